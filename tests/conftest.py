"""Shared fixtures: the named people of every test, and mail files read from disk.

alice owns the demo group, bob is a member, charlie is an outsider (STYLE.md #8).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def mail(name: str) -> bytes:
    """A fixture message's bytes, as a client would send them (CRLF line ends)."""
    data = (FIXTURES / "mail" / name).read_bytes()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def demo_group(db):
    from groups.membership import add_members
    from groups.models import Group, Membership

    group = Group.objects.create(name="demo", title="Demo group")
    add_members(group, ["Alice Owner <alice@example.org>"], role=Membership.Role.OWNER)
    add_members(group, ["Bob Member <bob@example.org>", "dora@example.org"])
    return group
