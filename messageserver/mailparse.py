"""Turn received bytes into the facts the pipeline needs, without ever raising.

Mail from the wild is often broken: headers that don't decode, MIME with no
boundary, charsets that don't exist. Everything here degrades to something
readable (replacement characters, the raw payload as text) rather than
refusing a message that a person wrote.

One parse serves the archive and the sender: ``parse`` first rewrites the
top-level header block into its ``canonical`` form (obsolete ``Name  :``
fields joined up, an unquoted MIME boundary quoted, a Message-ID given to a
message without one) and ``ParsedMail.raw`` holds those bytes. The archive
stores them and Karl delivers them, so the archive page, the delivered copies
and their DKIM signatures all read the same headers and the same MIME tree.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

from messageserver.remoteimages import block_remote_images
from platformcore import htmlsanitise, htmltext, mailheaders

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
    raw: bytes = b""  # the canonical bytes parsed: what is archived and delivered

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


# A MIME boundary that is not an RFC 2045 token (Outlook's ``----=_NextPart_...``)
# and not quoted: the modern header parser cuts it at the "=".
_BARE_BOUNDARY = re.compile(r"""(;\s*boundary\s*=\s*)([^"\s;][^\s;]*)""", re.IGNORECASE)
_TOKEN = re.compile(r"""^[^\s()<>@,;:\\"/\[\]?=]+$""")


def quote_boundary(value: str) -> str:
    """A Content-Type value with a bare boundary that isn't a token put in quotes."""
    def fix(m: re.Match[str]) -> str:
        token = m.group(2)
        return m.group(0) if _TOKEN.match(token) else f'{m.group(1)}"{token}"'
    return _BARE_BOUNDARY.sub(fix, value)


class _Policy(email.policy.EmailPolicy):
    """policy.default, but reading bare boundaries with "=" in them as senders meant."""

    def header_fetch_parse(self, name, value):  # type: ignore[no-untyped-def]
        if name.lower() == "content-type" and "boundary" in value.lower():
            value = quote_boundary(value)
        return super().header_fetch_parse(name, value)


PARSE_POLICY = _Policy()

# obs-field (RFC 5322 §4.5.3): blanks allowed between the field name and the colon.
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def canonical(raw: bytes, *, msgid_domain: str = "") -> bytes:
    """The message as the pipeline keeps and sends it, its body as it came.

    The top-level header block is written again line by line: ``Name  :``
    becomes ``Name:``; a line that is neither a field nor a continuation ends
    the header block (as the email parser reads it, so it starts the body);
    a bare boundary with "=" is quoted, in the parts' headers too (the one
    change to the body); the header's line ends follow the
    first line's (CRLF from SMTP; Karl sends CRLF whatever it is given). With
    ``msgid_domain`` a message without a Message-ID gets one (and one with
    several keeps its first), so the archive and every delivered copy carry
    one and the same. It is derived from the bytes, so a redelivery of the
    same bytes (the 250 lost on the way back) is known as the same message,
    as bouncehandling and the post's duplicate check expect.
    """
    first = raw.find(b"\n")
    eol = b"\r\n" if first > 0 and raw[first - 1:first] == b"\r" else b"\n"
    if raw.startswith((b"\n", b"\r\n")):  # no header at all
        head, sep, body = b"", True, raw[raw.index(b"\n") + 1:]
    elif blank := _BLANK_LINE.search(raw):
        head, sep, body = raw[:blank.start()], True, raw[blank.end():]
    elif _FIELD.match(raw):
        head, sep, body = raw, False, b""
    else:
        head, sep, body = b"", False, raw
    head = head.replace(b"\r\n", b"\n")
    lines = head.split(b"\n") if head else []
    fields: list[bytes] = []
    rest: list[bytes] = []
    for i, line in enumerate(lines):
        if i == 0 and line.startswith(b"From "):
            continue  # an mbox separator
        m = _FIELD.match(line)
        if m:
            fields.append(m.group(1) + b":" + line[m.end():])
        elif line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            rest = lines[i:]
            break
    for i, f in enumerate(fields):
        if f[:13].lower() == b"content-type:" and b"boundary" in f.lower():
            fields[i] = quote_boundary(f.decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape")
    ids = [i for i, f in enumerate(fields) if f.split(b":", 1)[0].lower() == b"message-id"]
    good = [i for i in ids if _MSGID_RE.search(fields[i].split(b":", 1)[1].decode("latin-1"))]
    if good or msgid_domain:  # one Message-ID: the first good one, else one of our own
        keep = good[:1]
        fields = [f for i, f in enumerate(fields) if i not in ids or i in keep]
        if not keep:
            digest = hashlib.sha256(raw).hexdigest()[:32]
            fields.append(f"Message-ID: <{digest}@{msgid_domain}>".encode())
    out = b"\n".join(fields) + b"\n\n" if fields else b"\n"
    if rest:
        out += b"\n".join(rest) + (b"\n\n" if sep else b"")
    return out.replace(b"\n", eol) + _quote_inner_boundaries(body)


def _quote_inner_boundaries(body: bytes) -> bytes:
    """Bare boundaries with "=" in the parts' headers quoted, where the body uses them.

    Only a ``boundary=`` whose value is not a token and whose delimiter line
    (``--value``) is in the body is touched, so text that merely mentions one
    stays as it is.
    """
    if b"boundary" not in body.lower():
        return body
    text = body.decode("latin-1")  # byte for byte

    def fix(m: re.Match[str]) -> str:
        token = m.group(2)
        if _TOKEN.match(token) or f"\n--{token}" not in text:
            return m.group(0)
        return f'{m.group(1)}"{token}"'
    return _BARE_BOUNDARY.sub(fix, text).encode("latin-1")


def parse_bytes(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=PARSE_POLICY)


def raw_header(msg: Message, name: str) -> str:
    """The first ``name`` field's value as received (folds undone), 8-bit read as UTF-8."""
    for key, value in msg.raw_items():  # type: ignore[attr-defined]
        if key.lower() == name.lower():
            text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return " ".join(text.split())
    return ""


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
    """The one sanitiser for HTML from mail: pages show only its output.

    The allow-list is the site's one (platformcore.htmlsanitise, shared with the
    Markdown renderer); remote images (tracking pixels) become links
    (messageserver.remoteimages).
    """
    return block_remote_images(htmlsanitise.clean(html)).strip()


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


def sender(msg: Message) -> tuple[str, str]:
    """(display name, address) of From; the name decoded as RFC 2047 §6.2 says.

    The address is read from the raw field; the name is decoded by
    ``mailheaders.decode``, since the email package's address parser puts a
    space between adjacent encoded-words (``회의 你好`` for ``회의你好``).
    """
    try:
        pairs = getaddresses([raw_header(msg, "From")])
    except Exception:
        pairs = []
    if not pairs or not pairs[0][1]:
        try:
            pairs = getaddresses([header_str(msg, "From")])
        except Exception:
            pairs = []
        return pairs[0] if pairs else ("", "")
    name, address = pairs[0]
    return mailheaders.decode(name), address


def parse(raw: bytes, *, msgid_domain: str = "") -> ParsedMail:
    """Parse received bytes once; ``ParsedMail.raw`` is what was parsed (``canonical``)."""
    raw = canonical(raw, msgid_domain=msgid_domain)
    msg = parse_bytes(raw)
    subject = header_str(msg, "Subject")
    from_name, from_email = sender(msg)
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
        raw=raw,
    )
