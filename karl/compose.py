"""Build each recipient's copy: headers, footer, DKIM signature.

A ``Composer`` is made once per job (per worker process): it filters and adds
the job's headers, plans the footer placement (mimeplan) and pre-hashes the
shared body. ``compose`` then does only the per-recipient work: render the
footer, hash the slots, sign. Copies whose footer cannot be written into the
bytes as planned are built with the email package instead (slower, rare).
"""

from __future__ import annotations

import email
import email.charset
import email.policy
import email.utils
from collections.abc import Sequence
from typing import Any

from karl.dkimsign import SigningKey, body_hash, sign, split_headers
from karl.footer import Footer, FooterError
from karl.mimeplan import (
    BODY_CLOSE_STR,
    NeedsFallback,
    Plan,
    Slot,
    build_plan,
    normalise,
    split_message,
)
from platformcore import mailheaders

_QP_UTF8 = email.charset.Charset("utf-8")
_QP_UTF8.body_encoding = email.charset.QP


class Copy(bytes):
    """One composed, signed copy.

    ``seven_bit`` is the same copy for a relay that does not offer SMTPUTF8
    (RFC 6531): its 8-bit header fields rewritten as RFC 2047 encoded-words by
    ``mailheaders.reencode`` and signed anew. It is None when every header is
    ASCII already. The SMTP client picks one of the two per connection.
    """

    seven_bit: bytes | None = None


def header_field(name: str, value: str) -> tuple[bytes, bytes]:
    """One header as (name, raw value).

    A value already folded by ``mailheaders.value`` (or short ASCII) goes out as
    given; anything else (non-ASCII text, very long lines) is folded by it here.
    """
    if not mailheaders.ready(value):
        value = mailheaders.value(name, value)
    return name.encode(), b" " + value.encode("ascii")


class Composer:
    """Everything about one job that is the same for all its recipients."""

    def __init__(self, raw: bytes, *, headers: Sequence[Sequence[str]] = (),
                 remove_headers: Sequence[str] = (), footer: dict[str, Any] | None = None,
                 keys: Sequence[SigningKey] = (), domain: str = "localhost",
                 variables: dict[str, Any] | None = None) -> None:
        header_block, body = split_message(normalise(raw))
        drop = {h.lower().encode() for h in remove_headers}
        drop |= {name.lower().encode() for name, _ in headers}
        fields = [(n, v) for n, v in split_headers(header_block)
                  if n.strip().lower() not in drop]
        names = {n.strip().lower() for n, _ in fields}
        fields += [header_field(name, value) for name, value in headers]
        if b"date" not in names:
            fields.append((b"Date", b" " + email.utils.formatdate(localtime=False).encode()))
        if b"message-id" not in names:
            fields.append((b"Message-ID", b" " + email.utils.make_msgid(domain=domain).encode()))
        self.keys = list(keys)
        self.variables = dict(variables or {})  # the job's: each recipient's own win
        self.footer = Footer(footer["text"], footer.get("html")) if footer else None
        if self.footer is not None:
            self.plan = build_plan(fields, body)
        else:
            self.plan = Plan(headers=fields, items=[body], body=body)
            self.plan.freeze()
        # an HTML footer is rendered only for a copy with somewhere to put it
        self._wants_html = bool(self.plan.fallback) or any(
            isinstance(i, Slot) and i.kind == "html" for i in self.plan.items)
        self._has_slots = self.plan.has_slots
        self._filtered: dict[frozenset[bytes], tuple[list[tuple[bytes, bytes]], bytes,
                                                    bool]] = {}
        self._seven: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}

    def _seven_bit(self, field: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
        """A field as RFC 2047 ASCII (cached: the same fields recur in every copy)."""
        name, raw = field
        if raw.isascii():
            return field
        out = self._seven.get(field)
        if out is None:
            text_name = name.decode("latin-1").strip()
            out = self._seven[field] = (name, b" " + mailheaders.reencode(text_name, raw))
        return out

    def _signed(self, fields: list[tuple[bytes, bytes]], body: bytes, bh: bytes,
                head: bytes | None = None) -> bytes:
        if head is None:
            head = _head(fields)
        sigs = b"".join(sign(fields, bh, key) for key in self.keys)
        return sigs + head + b"\r\n" + body

    def _headers_for(self, extra: Sequence[Sequence[str]]) -> tuple[
            list[tuple[bytes, bytes]], bytes, bool]:
        """(fields, their header block, all ASCII) of a copy with these extra headers.

        The job's own headers are joined and checked once (per set of names the
        extra headers replace); per copy only the extra headers are.
        """
        names = frozenset(n.lower().encode() for n, _ in extra)
        base = self._filtered.get(names)
        if base is None:
            kept = [(n, v) for n, v in self.plan.headers if n.strip().lower() not in names]
            base = self._filtered[names] = (kept, _head(kept),
                                            all(v.isascii() for _, v in kept))
        if not extra:
            return base
        added = [header_field(n, v) for n, v in extra]
        return (base[0] + added, base[1] + _head(added),
                base[2] and all(v.isascii() for _, v in added))

    def compose(self, variables: dict[str, Any] | None = None,
                headers: Sequence[Sequence[str]] = ()) -> Copy:
        """The complete signed copy for one recipient (and its 7-bit-header twin)."""
        fields, head, ascii_only = self._headers_for(headers)
        if self.footer is None or not self._has_slots and not self.plan.fallback:
            body, bh = self.plan.body_for("", "")
        else:
            if self.variables:
                variables = {**self.variables, **(variables or {})}
            text, html = self.footer.render(variables or {}, html=self._wants_html)
            try:
                if self.plan.fallback:
                    raise NeedsFallback(self.plan.fallback)
                body, bh = self.plan.body_for(text, html)
            except NeedsFallback:
                if not self._wants_html:  # rare: the email package may want the HTML too
                    text, html = self.footer.render(variables or {})
                fields, body = email_fallback(fields, self.plan.body, text, html)
                head, ascii_only = _head(fields), all(v.isascii() for _, v in fields)
                bh = body_hash(body)
        copy = Copy(self._signed(fields, body, bh, head))
        if not ascii_only:
            copy.seven_bit = self._signed([self._seven_bit(f) for f in fields], body, bh)
        return copy


def _head(fields: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(n + b":" + v + b"\r\n" for n, v in fields)


def _footer_targets(msg: email.message.Message) -> list[email.message.Message]:
    """The parts that get a footer, chosen as mimeplan chooses them."""
    ctype = msg.get_content_type()
    if msg.get_content_disposition() == "attachment":
        return []
    if ctype in ("text/plain", "text/html"):
        return [msg]
    payload = msg.get_payload()
    if not isinstance(payload, list) or not payload:
        return []
    if ctype == "multipart/alternative":
        out: list[email.message.Message] = []
        for part in payload:
            if part.get_content_type() in ("text/plain", "text/html", "multipart/related",
                                           "multipart/mixed"):
                out += _footer_targets(part)
        return out
    if ctype in ("multipart/mixed", "multipart/related"):
        return _footer_targets(payload[0])
    return []


def email_fallback(fields: list[tuple[bytes, bytes]], body: bytes, text: str,
                   html: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Insert the footer with the email package: decode, append, re-encode as utf-8 QP."""
    raw = b"".join(n + b":" + v + b"\r\n" for n, v in fields) + b"\r\n" + body
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    targets = _footer_targets(msg)
    for part in targets:
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        try:
            content = payload.decode(charset, "replace")
        except LookupError:
            content = payload.decode("latin-1")
        if part.get_content_type() == "text/html":
            matches = list(BODY_CLOSE_STR.finditer(content))
            at = matches[-1].start() if matches else len(content)
            content = content[:at] + "\n" + html + "\n" + content[at:]
        else:
            content = content.rstrip("\r\n") + "\n\n" + text + "\n"
        del part["Content-Transfer-Encoding"]
        part.set_payload(content, _QP_UTF8)
    if not targets:
        return fields, body
    out = msg.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))
    header_block, new_body = split_message(normalise(out))
    return split_headers(header_block), new_body


__all__ = ["Composer", "Copy", "FooterError", "email_fallback", "header_field"]
