"""Reading a bounce's parts without ever raising: bounces are the worst-formed mail there is.

Everything here takes an ``email.message.Message`` parsed with the lenient compat32
policy and returns plain strings; a part that cannot be decoded gives "" rather
than an exception, so the parser can go on to the next clue.
"""

from __future__ import annotations

import email
import re
from email.message import Message
from email.utils import getaddresses

from platformcore import htmltext

# The lookbehind makes every match start at the beginning of a token, so a long run of
# address characters without an "@" costs linear time, not quadratic.
ADDRESS_RE = re.compile(r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-])[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
MAX_TEXT = 64_000  # a bounce's own words are short; the rest is a returned message
DAEMON_LOCALPARTS = ("mailer-daemon", "postmaster", "post_master", "post-master", "mail-daemon", "mailerdaemon",
                     "mmdf", "mail delivery", "majordomo", "maildaemon")

# Lines after which a bounce quotes the message it returns; the failure text ends there.
_RETURNED = re.compile(
    r"^[\s\-=_*#>]*("
    r"below this line is a copy|this is a copy of|(a )?copy of (the )?(original )?message|"
    r"original message( follows|\s*-|\s*$| header)|returned message|returned mail|"
    r"the (original )?message (header|headers?) (was|were|follows?)|"
    r"(undelivered|unsent|original|returned) (message|mail)( headers?)?( follows| below)?\s*[-:=]*\s*$|"
    r"headers? of (the )?(original|returned|your) message|"
    r"message headers follow|forwarded message|"
    r"content-type: (message/rfc822|text/rfc822-headers)|"
    r"--- ?the header of the original|original message header"
    r")", re.I | re.M)


def parse(raw: bytes) -> Message:
    """Parse bytes leniently; compat32 keeps undecodable headers as strings."""
    return email.message_from_bytes(raw)


def header(msg: Message, name: str) -> str:
    """A header as text, "" when missing or undecodable."""
    try:
        value = msg.get(name)
        if value is None:
            return ""
        return " ".join(str(value).split())
    except Exception:  # noqa: BLE001 - broken encoded-words must not stop us
        return ""


def decoded(part: Message) -> str:
    """The text of a leaf part, whatever its charset or transfer encoding claims."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if payload is None:
        try:
            raw = part.get_payload()
        except Exception:  # noqa: BLE001
            return ""
        return raw if isinstance(raw, str) else ""
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # noqa: BLE001
        pass
    for name in (charset, "utf-8", "latin-1"):
        try:
            return payload.decode(name, errors="replace")
        except (LookupError, UnicodeError):
            continue
    return payload.decode("latin-1", errors="replace")


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:  # noqa: BLE001
        return "text/plain"


def _walk_outer(msg: Message):
    """Leaf parts of the bounce itself, not of a returned message/rfc822 inside it."""
    ctype = content_type(msg)
    if ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers",
                 "message/global", "message/global-headers"):
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    yield from _walk_outer(sub)
        return
    yield msg


def outer_parts(msg: Message) -> list[Message]:
    try:
        return list(_walk_outer(msg))
    except Exception:  # noqa: BLE001
        return []


def human_text(msg: Message) -> str:
    """The bounce's own words: its text parts, cut where the returned message begins."""
    texts = []
    for part in outer_parts(msg):
        ctype = content_type(part)
        if ctype.startswith("message/") or ctype.endswith("delivery-status"):
            continue
        if not ctype.startswith(("text/", "multipart/")):
            continue
        text = decoded(part)
        if ctype == "text/html":
            text = html_to_text(text[:MAX_TEXT * 4])
        texts.append(text)
        if len(texts) > 3:
            break
    text = "\n".join(texts).replace("\r\n", "\n").replace("\r", "\n")
    return cut_returned(text[:MAX_TEXT])


def cut_returned(text: str) -> str:
    """Drop the quoted original message from a bounce's text."""
    match = _RETURNED.search(text)
    if match and match.start() > 0:
        text = text[:match.start()]
    # An inline header block of the original (no marker line): stop at it.
    inline = re.search(r"\n\n(Return-Path|Received|Message-Id|DKIM-Signature):[^\n]*\n"
                       r"(?:[ \t][^\n]*\n)*[A-Z][\w\-]*:", text, re.I)
    if inline and inline.start() > 0:
        text = text[:inline.start()]
    return text


html_to_text = htmltext.html_to_text  # the one rule (platformcore.htmltext)


def returned_headers(msg: Message) -> Message | None:
    """Headers of the message that bounced: the message/rfc822 or rfc822-headers part,
    or a header block quoted after a "copy of the message" line."""
    try:
        for part in msg.walk():
            ctype = content_type(part)
            if ctype in ("message/rfc822", "message/global"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                    return payload[0]
            if ctype in ("text/rfc822-headers", "message/rfc822-headers",
                         "message/global-headers"):
                return email.message_from_string(decoded(part).lstrip())
        if not msg.is_multipart():
            body = decoded(msg).replace("\r\n", "\n")
            match = _RETURNED.search(body)
            if match:
                rest = body[match.end():].split("\n", 1)[-1].lstrip("\n ")
                quoted = email.message_from_string(rest)
                if quoted.keys():
                    return quoted
    except Exception:  # noqa: BLE001
        return None
    return None


def message_id(headers: Message | None) -> str | None:
    if headers is None:
        return None
    value = header(headers, "Message-ID")
    match = re.search(r"<[^<>\s]+>", value)
    return match.group(0) if match else (value or None)


_ROUTE_PREFIX = re.compile(r"^(?:smtp|rfc822|x400|mailto|ia5|sip)[=:]", re.I)


def clean_address(address: str) -> str:
    """Drop a gateway's type prefix ("SMTP=user@host", X.400 "dda:SMTP=") and punctuation."""
    return _ROUTE_PREFIX.sub("", address.strip(".'\"-")).rstrip(".")


def find_addresses(text: str) -> list[str]:
    return [clean_address(m.group(0)) for m in ADDRESS_RE.finditer(text or "")]


def addresses_in(value: str) -> list[str]:
    return [addr for _, addr in getaddresses([value]) if "@" in addr]


def is_daemon(address: str) -> bool:
    local = address.split("@", 1)[0].lower()
    return any(local.startswith(d) for d in DAEMON_LOCALPARTS)
