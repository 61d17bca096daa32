"""A Karl job's copies, built in the test's process by Karl's real contract and composer.

``copies(job)`` does what Karl does with a POST /v1/jobs body: ``validate_job``
(a 422 raises ``InvalidRequest`` here), then one ``Composer`` for the job and
one signed copy per recipient. ``check_copy`` reads a copy back with
independent tools: Python's email parser (no defects) and dkimpy.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from functools import cache

import dkim

from karl.compose import Composer, Copy
from karl.contract import validate_job
from karl.dkimsign import SigningKey, load_key
from platformcore import mailheaders
from tests.karl.conftest import DOMAIN, _shared_key, dnsfunc_for


@cache
def signing_key() -> SigningKey:
    return load_key(_shared_key().read_bytes(), DOMAIN, "groups")


@cache
def dnsfunc():  # noqa: ANN201
    return dnsfunc_for(_shared_key())


def signed_copies(job: dict) -> list[Copy]:
    """Every recipient's signed copy (with its 7-bit twin), as Karl would send it."""
    valid = validate_job(job)  # Karl's contract: a 422 raises InvalidRequest here
    composer = Composer(valid.message, headers=valid.headers,
                        remove_headers=valid.remove_headers, footer=valid.footer,
                        keys=[signing_key()] if valid.dkim else [], domain=DOMAIN,
                        variables=valid.vars)
    return [composer.compose(r.get("vars"), r.get("headers") or ()) for r in valid.recipients]


def copies(job: dict) -> list[bytes]:
    """Every recipient's signed copy, as Karl would send it."""
    return [bytes(copy) for copy in signed_copies(job)]


def check_parsed(data: bytes) -> EmailMessage:
    """Parse a copy: no defects (attached messages included), every header line
    within RFC 5322, no bare LF."""
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in head.split(b"\r\n")), "a header line over 998"
    assert b"\n" not in head.replace(b"\r\n", b""), "a bare LF in the header"
    msg = email.message_from_bytes(data, policy=email.policy.default)
    parts = list(msg.walk())
    defects = [(part.get_content_type(), part.defects) for part in parts if part.defects]
    assert not defects, defects
    return msg  # type: ignore[return-value]


def check_copy(data: bytes) -> EmailMessage:
    """``check_parsed``, and the copy's DKIM signature verifies with dkimpy."""
    msg = check_parsed(data)
    assert dkim.verify(data, dnsfunc=dnsfunc()), "DKIM does not verify"
    return msg


def subject(msg: EmailMessage) -> str:
    return " ".join(str(msg["Subject"]).split())


def display_name(msg: EmailMessage, name: str = "From") -> str:
    """The display name as RFC 2047 §6.2 reads it (no space between adjacent words)."""
    raw = next(v for k, v in msg.raw_items() if k.lower() == name.lower())
    raw = raw.encode("utf-8", "surrogateescape").decode("utf-8")  # 8-bit (SMTPUTF8) names
    return mailheaders.decode(email.utils.parseaddr(" ".join(raw.split()))[0])
