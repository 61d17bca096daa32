"""Helpers for the group-rules tests: send mail through the real pipeline, read the notices.

Notices are read back the way Karl would get them: the OutboxItem's job,
its message_b64 decoded and parsed as MIME, so every test checks real headers.
"""

from __future__ import annotations

import base64
import email
import email.policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.e2e.conftest import platform  # noqa: F401  (the real-processes fixture)

MAIL = Path(__file__).parent / "mail"
DOMAIN = "groups.localhost"


@pytest.fixture(autouse=True)
def fresh_cache():
    """The rate limit lives in the django cache; every test starts with none used."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def rules_mail(name: str, **replace: str) -> bytes:
    """A mail file from tests/messageserver/rules/mail with {placeholders} filled, CRLF line ends."""
    text = (MAIL / name).read_text()
    for key, value in replace.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def simple_mail(sender: str, to: str, subject: str = "", body: str = "hello\n",
                headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def deliver(mail_from: str, rcpt: str, raw: bytes):
    """Hand one message to the pipeline as smtpd would; returns the Outcome."""
    from messageserver import pipeline

    [(_, outcome)] = pipeline.handle_inbound(mail_from, [rcpt], raw)
    return outcome


def queued(to: str | None = None, since: int = 0) -> list[EmailMessage]:
    """Every queued notice (not fan-out), optionally only those to ``to``, parsed as MIME."""
    from groups.models import OutboxItem

    found = []
    for item in OutboxItem.objects.filter(id__gt=since).order_by("id"):
        job = item.payload
        if job.get("meta", {}).get("kind") != "notice":
            continue
        if to is not None and to not in [r["address"] for r in job["recipients"]]:
            continue
        found.append(email.message_from_bytes(base64.b64decode(job["message_b64"]),
                                              policy=email.policy.default))
    return found


def last_outbox_id() -> int:
    from groups.models import OutboxItem

    return OutboxItem.objects.order_by("-id").values_list("id", flat=True).first() or 0


def body(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def address_in(header: str) -> str:
    from email.utils import parseaddr

    return parseaddr(header)[1]
