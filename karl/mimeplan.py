"""Where the footer goes, worked out once per job on the raw bytes.

Re-serialising a message with the email package for every recipient is slow
and can alter what it does not understand. Instead the message is split once
into *pieces*: runs of bytes shared by every copy, and *slots* where each
recipient's footer is written. A copy is then the pieces joined with the
rendered slots. Every piece and slot is a run of whole CRLF lines, which is
what lets the DKIM body hash of the shared pieces be computed once per job.

Footer placement (the structure, charsets and attachments stay intact):
- text/plain: after the text, separated by a blank line;
- text/html: just before ``</body>`` (at the end when there is none);
- multipart/alternative: both of the above, in their own parts;
- multipart/mixed and multipart/related: into the first (body) part; when the
  body part is not text, a new text/plain part goes right after it, before
  the attachments;
- multipart/signed and multipart/encrypted, and anything else: left alone.
quoted-printable and base64 parts are decoded to find the spot and re-encoded
around it; 7bit parts labelled us-ascii are relabelled utf-8/8bit (lossless,
ASCII is UTF-8) so a footer with any character fits. When a footer cannot be
written in a part's charset, the copy raises ``NeedsFallback`` and is built
with the email package instead (see compose.py).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32

from karl.dkimsign import BodyHasher, canon_body_piece, split_headers

ASCII_NAMES = {"us-ascii", "ascii", "ansi_x3.4-1968", ""}
_BODY_CLOSE = re.compile(rb"</body\s*>", re.I)
BODY_CLOSE_STR = re.compile(r"</body\s*>", re.I)
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")


class NeedsFallback(Exception):
    """This copy's footer cannot be written into the bytes as planned."""


def normalise(raw: bytes) -> bytes:
    """CRLF line ends everywhere and a final line end: what SMTP sends anyway."""
    raw = _LINE_ENDS.sub(b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """(header block without the blank line, body) of a CRLF message."""
    if raw.startswith(b"\r\n"):
        return b"", raw[2:]
    idx = raw.find(b"\r\n\r\n")
    if idx < 0:
        return raw, b""
    return raw[:idx + 2], raw[idx + 4:]


def _crlf(data: bytes) -> bytes:
    return _LINE_ENDS.sub(b"\r\n", data)


def _b64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _qp(data: bytes) -> bytes:
    """quoted-printable with CRLF hard breaks; the output ends with a line end."""
    out = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    return out if out.endswith(b"\r\n") else out + b"=\r\n"


def _encode_footer(text: str, charset: str, html: bool) -> bytes:
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        return text.encode(charset or "us-ascii", "xmlcharrefreplace" if html else "strict")
    except (UnicodeEncodeError, LookupError):
        raise NeedsFallback(f"footer does not fit charset {charset!r}") from None


# ----------------------------------------------------------------- slots


@dataclass
class Slot:
    """Where a footer is written; ``render`` gives whole CRLF lines."""

    kind: str  # "text" or "html"
    charset: str
    cte: str  # 7bit, 8bit, binary, quoted-printable
    prefix: bytes = b""  # decoded bytes before the footer (a blank line for text)

    def footer_bytes(self, text: str, html: str) -> bytes:
        body = self.prefix + _encode_footer(html if self.kind == "html" else text,
                                            self.charset, self.kind == "html") + b"\r\n"
        return body

    def render(self, text: str, html: str) -> bytes:
        data = self.footer_bytes(text, html)
        return _qp(data) if self.cte == "quoted-printable" else data


@dataclass
class Base64Slot(Slot):
    """The tail of a base64 part, re-encoded per copy from the footer onwards."""

    before: bytes = b""  # decoded bytes between the last shared full line and the footer
    after: bytes = b""  # decoded bytes after the footer
    eol: bytes = b"\r\n"  # the line end the decoded text uses

    def render(self, text: str, html: str) -> bytes:
        footer = self.footer_bytes(text, html)
        if self.eol != b"\r\n":
            footer = footer.replace(b"\r\n", self.eol)
        return _b64_lines(self.before + footer + self.after)


@dataclass
class PartSlot(Slot):
    """A whole new text/plain part (a body part that is not text gets its footer beside it)."""

    boundary: bytes = b""

    def render(self, text: str, html: str) -> bytes:
        footer = text.replace("\r\n", "\n").encode("utf-8") + b"\n"
        return (b"--" + self.boundary + b"\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
                b"Content-Transfer-Encoding: quoted-printable\r\n"
                b"Content-Disposition: inline\r\n\r\n" + _qp(footer))


# ----------------------------------------------------------------- the plan


@dataclass
class Plan:
    """A message split into shared pieces and per-recipient slots."""

    headers: list[tuple[bytes, bytes]]
    items: list[bytes | Slot] = field(default_factory=list)
    fallback: str = ""  # why the email package must build every copy, or ""
    body: bytes = b""  # the original body (for the fallback)

    def __post_init__(self) -> None:
        self._prefix: BodyHasher | None = None
        self._rest: list[tuple[bytes, bytes] | Slot] = []

    def freeze(self) -> None:
        """Hash everything before the first slot once; canonicalise later pieces once."""
        hasher = BodyHasher()
        rest: list[tuple[bytes, bytes] | Slot] = []
        for item in self.items:
            if isinstance(item, Slot) or rest:
                rest.append(item if isinstance(item, Slot) else (item, canon_body_piece(item)))
            else:
                hasher.update(item)
        self._prefix, self._rest = hasher, rest

    @property
    def has_slots(self) -> bool:
        return any(isinstance(i, Slot) for i in self.items)

    def body_for(self, text: str, html: str) -> tuple[bytes, bytes]:
        """(body bytes, relaxed body hash) of one copy."""
        if self._prefix is None:
            self.freeze()
        assert self._prefix is not None
        hasher = self._prefix.copy()
        out: list[bytes] = []
        for item in self.items:
            if isinstance(item, Slot):
                break
            out.append(item)
        for item in self._rest:
            if isinstance(item, Slot):
                raw = item.render(text, html)
                hasher.update(raw)
                out.append(raw)
            else:
                out.append(item[0])
                hasher.update_canonical(item[1])
        return b"".join(out), hasher.digest()


@dataclass
class _Entity:
    start: int  # first byte of the headers
    bstart: int  # first byte of the body
    bend: int  # end of the body (before the CRLF that precedes a delimiter)
    ctype: str
    charset: str
    cte: str
    disposition: str
    boundary: bytes
    children: list[_Entity] = field(default_factory=list)
    closed: bool = True


def _describe(header_block: bytes) -> tuple[str, str, str, str, bytes]:
    msg = BytesHeaderParser(policy=compat32).parsebytes(header_block + b"\r\n")
    ctype = msg.get_content_type()
    charset = (msg.get_content_charset() or "").lower()
    cte = str(msg.get("content-transfer-encoding", "7bit")).strip().lower()
    disposition = (msg.get_content_disposition() or "").lower()
    boundary = msg.get_boundary() or ""
    return ctype, charset, cte, disposition, boundary.encode("utf-8", "surrogateescape")


def _parse_part(buf: bytes, start: int, end: int, depth: int = 0) -> _Entity:
    if buf.startswith(b"\r\n", start):
        header, bstart = b"", start + 2
    else:
        idx = buf.find(b"\r\n\r\n", start, end)
        header, bstart = (buf[start:idx + 2], idx + 4) if idx >= 0 else (buf[start:end], end)
    ctype, charset, cte, disposition, boundary = _describe(header)
    entity = _Entity(start, min(bstart, end), end, ctype, charset, cte, disposition, boundary)
    if ctype.startswith("multipart/") and boundary and depth < 20:
        _split_multipart(buf, entity, depth)
    return entity


def _split_multipart(buf: bytes, entity: _Entity, depth: int) -> None:
    delim = re.compile(rb"(?m)^--" + re.escape(entity.boundary) + rb"(--)?[ \t]*\r$")
    starts: list[int] = []
    closed_at = -1
    for match in delim.finditer(buf, entity.bstart, entity.bend):
        if match.group(1):
            closed_at = match.start()
            break
        starts.append(match.start())
    entity.closed = closed_at >= 0
    bounds = starts + [closed_at if closed_at >= 0 else entity.bend]
    for here, nxt in zip(bounds, bounds[1:], strict=False):
        line_end = buf.find(b"\r\n", here, nxt)
        if line_end < 0:
            continue
        part_end = nxt - 2 if nxt >= 2 and buf[nxt - 2:nxt] == b"\r\n" else nxt
        part_start = line_end + 2
        if part_start > part_end:
            part_start = part_end
        entity.children.append(_parse_part(buf, part_start, part_end, depth + 1))


# ----------------------------------------------------------------- building the plan


class _Builder:
    """Collects (position, replacement) edits on the body and turns them into pieces."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        # (start, end, [bytes | Slot]) : replace buf[start:end] by these items
        self.edits: list[tuple[int, int, list[bytes | Slot]]] = []
        # parts whose charset label becomes utf-8: (part, keep its transfer encoding)
        self.relabel: list[tuple[_Entity, bool]] = []

    def items(self) -> list[bytes | Slot]:
        out: list[bytes | Slot] = []
        pos = 0
        for start, end, repl in sorted(self.edits, key=lambda e: e[0]):
            if start < pos:
                raise ValueError("overlapping footer edits")
            if start > pos:
                out.append(self.buf[pos:start])
            out.extend(repl)
            pos = end
        if pos < len(self.buf):
            out.append(self.buf[pos:])
        return [i for i in out if not (isinstance(i, bytes) and not i)]

    def text_part(self, part: _Entity, kind: str) -> None:
        """Put a footer slot into a single text part (already known to be the body)."""
        cte = part.cte if part.cte in ("7bit", "8bit", "binary", "quoted-printable",
                                       "base64") else ""
        if not cte:
            raise NeedsFallback(f"unknown transfer encoding {part.cte!r}")
        charset = part.charset
        if charset in ASCII_NAMES and cte in ("7bit", "8bit", "binary"):
            self._relabel_utf8(part)
            charset, cte = "utf-8", "8bit"
        elif charset in ASCII_NAMES:
            charset = "utf-8"
            self._relabel_utf8(part, keep_cte=True)
        raw = self.buf[part.bstart:part.bend]
        end = part.bend + 2 if self.buf[part.bend:part.bend + 2] == b"\r\n" else part.bend
        if cte in ("7bit", "8bit", "binary"):
            match = _last(_BODY_CLOSE, raw) if kind == "html" else None
            if match is None:
                prefix = b"\r\n" if kind == "text" else b""
                if not self.buf.endswith(b"\r\n", 0, end):  # no line end: make one
                    self.edits.append((end, end, [b"\r\n", Slot(kind, charset, cte, prefix)]))
                else:
                    self.edits.append((end, end, [Slot(kind, charset, cte, prefix)]))
            else:
                pos = part.bstart + match
                self.edits.append((pos, pos, [b"\r\n", Slot(kind, charset, cte)]))
            return
        if cte == "quoted-printable":
            decoded = quopri.decodestring(raw)
            at = _last(_BODY_CLOSE, decoded) if kind == "html" else None
            if at is None:
                before, after = decoded, b""
                if before and not before.endswith((b"\r\n", b"\n")):
                    before += b"\r\n"
            else:
                before, after = decoded[:at] + b"\r\n", decoded[at:]
            repl: list[bytes | Slot] = [_qp(before)] if before else []
            repl.append(Slot(kind, charset, cte, b"\r\n" if kind == "text" else b""))
            if after:
                repl.append(_qp(after))
            self.edits.append((part.bstart, end, repl))
            return
        try:
            decoded = base64.b64decode(b"".join(raw.split()), validate=False)
        except (binascii.Error, ValueError):
            raise NeedsFallback("undecodable base64 body") from None
        at = _last(_BODY_CLOSE, decoded) if kind == "html" else None
        if at is None:
            at = len(decoded)
            prefix = b"" if decoded.endswith(b"\n") or not decoded else b"\r\n"
            prefix += b"\r\n" if kind == "text" else b""
        else:
            prefix = b""
        shared_len = (at // 57) * 57
        head = _b64_lines(decoded[:shared_len]) if shared_len else b""
        slot = Base64Slot(kind, charset, "base64", prefix, before=decoded[shared_len:at],
                          after=decoded[at:],
                          eol=b"\r\n" if b"\r\n" in decoded or b"\n" not in decoded else b"\n")
        repl2: list[bytes | Slot] = [head, slot] if head else [slot]
        self.edits.append((part.bstart, end, repl2))

    def _relabel_utf8(self, part: _Entity, keep_cte: bool = False) -> None:
        """Say utf-8 (and 8bit) in the part's own headers: ASCII text is UTF-8 already."""
        self.relabel.append((part, keep_cte))

    def new_part_after(self, parent: _Entity, child: _Entity) -> None:
        pos = child.bend + 2  # the delimiter line of the next part starts here
        self.edits.append((pos, pos, [PartSlot("text", "utf-8", "quoted-printable",
                                               boundary=parent.boundary)]))


def _last(pattern: re.Pattern[bytes], data: bytes) -> int | None:
    found = None
    for match in pattern.finditer(data):
        found = match.start()
    return found


def _targets(entity: _Entity, builder: _Builder) -> None:
    """Place the footer slots in ``entity`` (the message or one of its parts)."""
    ctype = entity.ctype
    if entity.disposition == "attachment":
        return
    if ctype == "text/plain":
        builder.text_part(entity, "text")
    elif ctype == "text/html":
        builder.text_part(entity, "html")
    elif ctype == "multipart/alternative" and entity.closed:
        for child in entity.children:
            if child.ctype in ("text/plain", "text/html") and child.disposition != "attachment":
                builder.text_part(child, "text" if child.ctype == "text/plain" else "html")
            elif child.ctype in ("multipart/related", "multipart/mixed"):
                _targets(child, builder)
    elif ctype in ("multipart/mixed", "multipart/related") and entity.children and entity.closed:
        first = entity.children[0]
        if first.ctype in ("text/plain", "text/html", "multipart/alternative",
                           "multipart/related") and first.disposition != "attachment":
            _targets(first, builder)
        elif ctype == "multipart/mixed" and len(entity.children) > 0:
            builder.new_part_after(entity, first)


def _rewrite_content_headers(block: bytes, keep_cte: bool) -> bytes:
    """A part's header block with charset utf-8 (and 8bit unless ``keep_cte``)."""
    out = []
    for name, value in split_headers(block):
        lname = name.strip().lower()
        if lname == b"content-type":
            value = _set_charset(value)
        elif lname == b"content-transfer-encoding" and not keep_cte:
            value = b" 8bit"
        out.append(name + b":" + value + b"\r\n")
    names = {n.strip().lower() for n, _ in split_headers(block)}
    if b"content-type" not in names:
        out.append(b'Content-Type: text/plain; charset="utf-8"\r\n')
    if b"content-transfer-encoding" not in names and not keep_cte:
        out.append(b"Content-Transfer-Encoding: 8bit\r\n")
    return b"".join(out)


def _set_charset(value: bytes) -> bytes:
    if re.search(rb"(?i)charset\s*=", value):
        return re.sub(rb'(?i)(charset\s*=\s*)("[^"]*"|[^;\s]*)', rb'\1"utf-8"', value, count=1)
    return value.rstrip() + b'; charset="utf-8"'


def build_plan(headers: list[tuple[bytes, bytes]], body: bytes) -> Plan:
    """Plan the footer placement of a message (headers already filtered by the job)."""
    top_block = b"".join(n + b":" + v + b"\r\n" for n, v in headers)
    buf = top_block + b"\r\n" + body
    offset = len(top_block) + 2
    top = _parse_part(buf, 0, len(buf))
    builder = _Builder(buf)
    try:
        _targets(top, builder)
        # relabel edits: rewrite the header blocks of parts whose charset becomes utf-8
        new_headers = headers
        for part, keep_cte in builder.relabel:
            block_end = part.bstart - 2 if part.bstart - part.start >= 2 else part.start
            block = buf[part.start:block_end]
            rewritten = _rewrite_content_headers(block, keep_cte)
            if part.start == 0:
                new_headers = split_headers(rewritten)
            else:
                builder.edits.append((part.start, block_end, [rewritten]))
        items = builder.items()
    except NeedsFallback as exc:
        return Plan(headers=headers, items=[body], fallback=str(exc), body=body)
    # drop the top header block from the items: it is kept as header fields
    body_items: list[bytes | Slot] = []
    pos = 0
    for item in items:
        if isinstance(item, bytes):
            if pos + len(item) <= offset:
                pos += len(item)
                continue
            if pos < offset:
                item = item[offset - pos:]
                pos = offset
            else:
                pos += len(item)
        body_items.append(item)
    plan = Plan(headers=new_headers, items=_merge(body_items), body=body)
    plan.freeze()
    return plan


def _merge(items: list[bytes | Slot]) -> list[bytes | Slot]:
    out: list[bytes | Slot] = []
    for item in items:
        if isinstance(item, bytes) and out and isinstance(out[-1], bytes):
            out[-1] = out[-1] + item
        elif item != b"":
            out.append(item)
    return out
