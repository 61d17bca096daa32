"""Can this message be taken at all? Checked once, before any rule, at every inbound edge.

Some messages must be refused during the SMTP transaction, with a permanent
code that says why, because taking them would break a promise later: the
archive could not store them (NUL bytes on PostgreSQL), Karl would refuse to
send them (an empty message), or the parser would fail or lose parts (MIME
nested deeper than Python's recursion allows, thousands of tiny parts each
becoming an attachment row). Answering 451 for these makes senders retry for
days; answering 250 and then failing breaks "accepted means delivered".

``parse_acceptable(raw)`` returns the parsed message or raises ``Unacceptable``
with the enhanced status code (5.6.0 media error, 5.3.4 too big/complex) and
the reason; the edges map it to ``554 5.6.0`` or ``552 5.3.4``.

Limits (settings): MIME_MAX_DEPTH (default 50 nested multiparts or attached
messages) and MIME_MAX_PARTS (default 500 parts in all).
"""

from __future__ import annotations

from email.message import Message

from messageserver import mailparse
from messageserver.mailparse import ParsedMail
from platformcore.env import env_int

DEFAULT_MAX_DEPTH = 50
DEFAULT_MAX_PARTS = 500


class Unacceptable(Exception):
    """The message is refused as a whole (no recipient can take it)."""

    def __init__(self, reason: str, status: str = "5.6.0"):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def max_depth() -> int:
    """MIME_MAX_DEPTH: how deep multiparts and attached messages may nest."""
    return env_int("MIME_MAX_DEPTH", DEFAULT_MAX_DEPTH, minimum=1)


def max_parts() -> int:
    """MIME_MAX_PARTS: how many MIME parts (at every level) one message may have."""
    return env_int("MIME_MAX_PARTS", DEFAULT_MAX_PARTS, minimum=1)


def check_bytes(raw: bytes) -> None:
    """Refusals that need no parse: an empty message, one with no header field at all, NUL
    bytes (RFC 5322 §2.3 forbids them)."""
    if not raw.strip():
        raise Unacceptable("the message is empty")
    if b"\n\n" not in raw.replace(b"\r\n", b"\n") and b":" not in raw[:1000]:
        # Karl's own test (karl/contract.py): refused here, not accepted and lost there.
        raise Unacceptable("the message has no header fields (not an RFC 5322 message)")
    where = raw.find(b"\x00")
    if where >= 0:
        head_end = raw.find(b"\r\n\r\n")
        if head_end < 0:
            head_end = raw.find(b"\n\n")
        part = "header" if head_end < 0 or where < head_end else "body"
        raise Unacceptable(f"the message contains a NUL byte in its {part} (offset {where}); "
                           "RFC 5322 does not allow NUL in mail: encode binary content "
                           "(base64)")


def structure(msg: Message) -> tuple[int, int]:
    """(deepest nesting, number of parts) of a parsed message, without recursion."""
    deepest, parts = 0, 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        parts += 1
        deepest = max(deepest, depth)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, Message))
        elif isinstance(payload, Message):
            stack.append((payload, depth + 1))
    return deepest, parts


def check_structure(msg: Message) -> None:
    """Refuse MIME nested deeper than MIME_MAX_DEPTH or with more than MIME_MAX_PARTS parts."""
    depth, parts = structure(msg)
    if depth > max_depth():
        raise Unacceptable(f"MIME parts nested {depth} levels deep; the limit is {max_depth()}")
    if parts > max_parts():
        raise Unacceptable(f"the message has {parts} MIME parts; the limit is {max_parts()}",
                           status="5.3.4")


def parse_acceptable(raw: bytes, *, msgid_domain: str = "") -> ParsedMail:
    """The parsed message, or ``Unacceptable`` saying why it can't be taken."""
    check_bytes(raw)
    try:
        parsed = mailparse.parse(raw, msgid_domain=msgid_domain)
        check_structure(parsed.msg)
    except RecursionError:
        raise Unacceptable(f"MIME parts nested too deeply to read; the limit is "
                           f"{max_depth()} levels") from None
    return parsed
