"""Turn received bytes into the facts the pipeline needs, without ever raising.

Mail from the wild is often broken: headers that don't decode, MIME with no
boundary, charsets that don't exist. Everything here degrades to something
readable (replacement characters, the raw payload as text) rather than
refusing a message that a person wrote.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

import nh3

from messageserver.remoteimages import block_remote_images
from platformcore import htmltext

_MSGID_RE = re.compile(r"<[^<>\s]+>")


@dataclass
class AttachmentPart:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""


@dataclass
class ParsedMail:
    msg: Message
    subject: str
    from_name: str
    from_email: str
    message_id: str
    in_reply_to: str
    references: list[str]
    date: datetime | None
    text: str
    html: str  # sanitised
    attachments: list[AttachmentPart] = field(default_factory=list)

    def header(self, name: str) -> str:
        return header_str(self.msg, name)

    def headers(self, name: str) -> list[str]:
        return [_to_str(v) for v in (self.msg.get_all(name) or [])]


def _to_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a header the email package can't render
        return ""


def header_str(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return "" if value is None else " ".join(_to_str(value).replace("\x00", "").split())


def parse_bytes(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _decode_part(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, bytes):
            return content.decode("utf-8", "replace")
        return str(content)
    except Exception:
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")


def sanitize_html(html: str) -> str:
    """The one sanitiser for HTML from mail (nh3): pages show only its output.

    Remote images (tracking pixels) become links (messageserver.remoteimages).
    """
    return block_remote_images(nh3.clean(html, link_rel="noopener noreferrer nofollow",
                                         url_schemes={"http", "https", "mailto"}))


html_to_text = htmltext.html_to_text  # the one rule (platformcore.htmltext)


def message_ids(value: str) -> list[str]:
    return _MSGID_RE.findall(value or "")


def _leaves(msg: Message):
    """Every leaf part, not descending into attached messages (message/rfc822,
    message/external-body...): those are kept whole, as attachments."""
    if msg.get_content_maintype() == "message":
        yield msg
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                yield from _leaves(sub)
        return
    yield msg


def _walk_bodies(msg: Message) -> tuple[str, str, list[AttachmentPart]]:
    text = html = ""
    attachments: list[AttachmentPart] = []
    body_parts: set[int] = set()
    if isinstance(msg, EmailMessage):
        for pref in ("plain", "html"):
            try:
                part = msg.get_body(preferencelist=(pref,))
            except Exception:
                part = None
            if part is not None:
                body_parts.add(id(part))
                if pref == "plain":
                    text = _decode_part(part)
                else:
                    html = _decode_part(part)
    for part in _leaves(msg):
        if id(part) in body_parts:
            continue
        ctype = part.get_content_type()
        try:
            filename = part.get_filename() or ""
        except Exception:
            filename = ""
        disposition = (part.get_content_disposition() or "").lower()
        if not filename and disposition != "attachment" and ctype in ("text/plain", "text/html"):
            if ctype == "text/plain" and not text:
                text = _decode_part(part)
            elif ctype == "text/html" and not html:
                html = _decode_part(part)
            continue
        if part.get_content_maintype() == "message" and not filename:
            try:
                filename = part.get_param("name") or ""
            except Exception:
                filename = ""
            filename = filename or "forwarded-message.eml"
        try:
            data = part.get_payload(decode=True)
            if data is None:
                payload = part.get_payload()
                data = payload.as_bytes() if isinstance(payload, Message) else (
                    b"".join(p.as_bytes() for p in payload) if isinstance(payload, list)
                    else str(payload).encode("utf-8", "replace"))
        except Exception:
            data = b""
        ext = {"text/plain": ".txt", "text/html": ".html", "image/png": ".png",
               "image/jpeg": ".jpg", "application/pdf": ".pdf",
               "message/rfc822": ".eml"}.get(ctype, ".bin")
        attachments.append(AttachmentPart(
            filename=_safe_filename(filename) or f"attachment-{len(attachments) + 1}{ext}",
            content_type=ctype, data=data,
            content_id=header_str(part, "Content-ID").strip("<>"),
        ))
    return text, html, attachments


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/").split("/")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name[:200]


def parse(raw: bytes) -> ParsedMail:
    msg = parse_bytes(raw)
    subject = header_str(msg, "Subject")
    try:
        pairs = getaddresses([header_str(msg, "From")])
    except Exception:
        pairs = []
    from_name, from_email = pairs[0] if pairs else ("", "")
    try:
        date = parsedate_to_datetime(header_str(msg, "Date"))
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    except Exception:
        date = None
    try:
        text, html, attachments = _walk_bodies(msg)
    except Exception:
        payload = msg.get_payload(decode=True) or b""
        text, html, attachments = payload.decode("utf-8", "replace"), "", []
    # Raw NUL bytes are refused at the edge (messageserver.acceptance); an encoded one
    # (quoted-printable =00, base64) decodes here and must not reach a text column.
    text, html = text.replace("\x00", ""), html.replace("\x00", "")
    if html:
        html = sanitize_html(html)
        if not text.strip():
            text = html_to_text(html)
    mid = message_ids(header_str(msg, "Message-ID"))
    return ParsedMail(
        msg=msg,
        subject=subject,
        from_name=from_name,
        from_email=from_email.strip().lower(),
        message_id=mid[0] if mid else "",
        in_reply_to=(message_ids(header_str(msg, "In-Reply-To")) or [""])[-1],
        references=message_ids(header_str(msg, "References")),
        date=date,
        text=text,
        html=html,
        attachments=attachments,
    )
