"""RFC 5965 feedback reports (ARF): a recipient marked our mail as spam, or it failed auth.

These are not bounces: the address works, its owner just does not want the mail.
The lead's code removes the member and offers a restore link; here we only read
who complained and about which message.
"""

from __future__ import annotations

import re
from email.message import Message

from messageserver.bounces import dsn, mime
from messageserver.bounces.report import Complaint


def _feedback_part(msg: Message) -> Message | None:
    try:
        for part in msg.walk():
            if mime.content_type(part) == "message/feedback-report":
                return part
    except Exception:  # noqa: BLE001
        return None
    return None


def is_feedback_report(msg: Message) -> bool:
    try:
        report_type = (msg.get_param("report-type") or "")
    except Exception:  # noqa: BLE001
        report_type = ""
    if isinstance(report_type, tuple):
        report_type = report_type[-1]
    if str(report_type).lower() == "feedback-report" or _feedback_part(msg) is not None:
        return True
    return _jmrp_recipient(msg) is not None


def _jmrp_recipient(msg: Message) -> str | None:
    """Microsoft's Junk Mail Reporting Program predates ARF: it returns the message with
    an X-HmXmrOriginalRecipient header naming who pressed "junk"."""
    original = mime.returned_headers(msg)
    if original is None:
        return None
    found = mime.addresses_in(mime.header(original, "X-HmXmrOriginalRecipient"))
    return found[0] if found else None


def parse_complaint(msg: Message) -> Complaint:
    """Read the machine-readable part; fall back to the returned message's headers."""
    fields: list[tuple[str, str]] = []
    part = _feedback_part(msg)
    if part is not None:
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    fields.extend((k, " ".join(str(v).split())) for k, v in sub.items())
        else:
            for block in dsn.blocks_from_text(mime.decoded(part)):
                fields.extend(block)
    lookup: dict[str, list[str]] = {}
    for key, value in fields:
        lookup.setdefault(key.lower(), []).append(value)
    feedback_type = (lookup.get("feedback-type") or ["abuse"])[0].strip().lower() or "abuse"
    recipients = [a for v in lookup.get("original-rcpt-to", []) for a in mime.addresses_in(v)]
    mail_from = [a for v in lookup.get("original-mail-from", []) for a in mime.addresses_in(v)]
    original = mime.returned_headers(msg)
    if not recipients and _jmrp_recipient(msg):
        recipients = [_jmrp_recipient(msg) or ""]
    if not recipients and original is not None:
        recipients = mime.addresses_in(mime.header(original, "To"))
    if not mail_from and original is not None:
        mail_from = mime.addresses_in(mime.header(original, "From"))
    feedback_type = re.sub(r"[^a-z0-9\-]", "", feedback_type) or "abuse"
    return Complaint(feedback_type=feedback_type,
                     original_recipients=tuple(dict.fromkeys(a.lower() for a in recipients)),
                     original_mail_from=mail_from[0] if mail_from else None,
                     original_message_id=mime.message_id(original))
