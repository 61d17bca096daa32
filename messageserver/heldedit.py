"""A held message as its moderator edited it: new subject and plain-text body, same headers.

Pure (bytes in, bytes out) so the rule is tested without a database. The
edited copy keeps every header of the original but Subject and the MIME
structure, keeps the attachments, and drops the HTML alternative: the
moderator edited the text, and an HTML part still saying the old words would
contradict it. The original bytes are never changed (HeldMessage.raw keeps
them for the record); this builds the version that is archived and sent.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from messageserver.mailparse import parse

MAX_SUBJECT = 500
MAX_BODY = 1_000_000
_STRUCTURE = ("content-type", "content-transfer-encoding", "mime-version", "subject")


class EditError(ValueError):
    """The edit can't be used as it is (empty or too long subject or body)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def check(subject: str, body: str) -> tuple[str, str]:
    """The edit cleaned (one-line subject, LF line ends), or EditError naming the field."""
    subject = " ".join(subject.split())
    if not subject:
        raise EditError("subject", "a subject is needed")
    if len(subject) > MAX_SUBJECT:
        raise EditError("subject", f"at most {MAX_SUBJECT} characters")
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.strip():
        raise EditError("body", "the message needs some text")
    if len(body) > MAX_BODY:
        raise EditError("body", f"at most {MAX_BODY} characters")
    return subject, body


def edited_message(raw: bytes, subject: str, body: str) -> bytes:
    """The original with the moderator's subject and text; attachments kept."""
    subject, body = check(subject, body)
    original = email.message_from_bytes(raw, policy=email.policy.default)
    out = EmailMessage(policy=email.policy.SMTP)
    for name, value in original.raw_items():
        if name.lower() not in _STRUCTURE:
            out.set_raw(name, value)
    out["Subject"] = subject
    out.set_content(body if body.endswith("\n") else body + "\n")
    for part in parse(raw).attachments:
        maintype, _, subtype = (part.content_type or "application/octet-stream").partition("/")
        out.add_attachment(part.data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=part.filename or "attachment")
    return out.as_bytes()
