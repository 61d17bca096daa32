"""Public listeners (web, smtpd) and internal APIs (messageserver, karl, errord) bind apart.

Exposing the website on 0.0.0.0 must not expose the internal APIs (#22 item 9).
BIND_ADDRESS stays the fallback for both.
"""

from __future__ import annotations

import pytest

from groups import env as envmod
from groups.management.commands.runplatform import process_specs
from karl.config import from_env as karl_config


def _host_of(specs, name: str) -> str | None:
    argv = dict(specs)[name]
    return argv[argv.index("--host") + 1] if "--host" in argv else None


def test_public_and_internal_addresses_are_separate(monkeypatch):
    monkeypatch.setenv("PUBLIC_BIND_ADDRESS", "0.0.0.0")
    monkeypatch.setenv("INTERNAL_BIND_ADDRESS", "127.0.0.2")
    env = envmod.load()
    specs = process_specs(env)
    assert _host_of(specs, "web") == _host_of(specs, "smtpd") == "0.0.0.0"
    assert _host_of(specs, "messageserver") == _host_of(specs, "errord") == "127.0.0.2"
    assert karl_config(env).bind_address == "127.0.0.2"
    # clients find the internal services where they listen
    monkeypatch.delenv("MESSAGESERVER_URL", raising=False)
    assert env.service_url("messageserver").startswith("http://127.0.0.2:")


@pytest.mark.parametrize("unset", ["PUBLIC_BIND_ADDRESS", "INTERNAL_BIND_ADDRESS"])
def test_bind_address_is_the_fallback_for_both(monkeypatch, unset):
    monkeypatch.setenv("BIND_ADDRESS", "127.0.0.3")
    monkeypatch.delenv(unset, raising=False)
    env = envmod.load()
    assert getattr(env, unset.lower()) == "127.0.0.3"
