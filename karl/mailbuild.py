"""Turn a POST /v1/mail request into a one-message job (the platform's own mail).

Karl writes the MIME here (multipart/alternative when both text and html are
given), with Date and Message-ID, so notices and account mail are signed,
spooled and retried exactly like group posts. Bcc addresses become recipients
but never a header.
"""

from __future__ import annotations

from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from typing import Any

from karl.contract import Job
from platformcore import mailheaders


def build_mail_job(mail: dict[str, Any], *, domain: str, default_mail_from: str) -> Job:
    """A Job from a validated /v1/mail body."""
    msg = mailheaders.message()
    put = mailheaders.put
    put(msg, "From", mail["from"])
    if mail["to"]:
        put(msg, "To", ", ".join(mail["to"]))
    if mail["cc"]:
        put(msg, "Cc", ", ".join(mail["cc"]))
    put(msg, "Subject", mail["subject"])
    put(msg, "Date", formatdate(localtime=False))
    put(msg, "Message-ID", make_msgid(domain=domain))
    if mail.get("reply_to"):
        put(msg, "Reply-To", mail["reply_to"])
    for name, value in mail["headers"]:
        if name.lower() in ("bcc",):
            continue
        put(msg, name, value)
    if mail.get("text"):
        msg.set_content(mail["text"], cte="quoted-printable")
        if mail.get("html"):
            msg.add_alternative(mail["html"], subtype="html", cte="quoted-printable")
    else:
        msg.set_content(mail["html"], subtype="html", cte="quoted-printable")
    envelope = [addr for _, addr in getaddresses(mail["to"] + mail["cc"] + mail["bcc"])]
    mail_from = mail.get("mail_from") or default_mail_from or parseaddr(mail["from"])[1]
    recipients = [{"address": a} for a in dict.fromkeys(a.lower() for a in envelope)]
    return Job(message=msg.as_bytes(), mail_from=mail_from, recipients=recipients,
               events=mail["events"], meta=mail["meta"])
