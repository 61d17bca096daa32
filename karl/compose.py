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
from dataclasses import dataclass
from typing import Any

from karl.dkimsign import HeaderSigner, SigningKey, body_hash, split_headers
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
        self._shared: dict[frozenset[bytes], _Shared] = {}
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

    def _shared_for(self, names: frozenset[bytes]) -> _Shared:
        """The job's fields a copy keeps when its own fields have these ``names``: joined,
        checked and prepared for signing once per set of names (a fan-out has one)."""
        shared = self._shared.get(names)
        if shared is None:
            kept = [(n, v) for n, v in self.plan.headers if n.strip().lower() not in names]
            ascii_only = all(v.isascii() for _, v in kept)
            seven = [self._seven_bit(f) for f in kept]
            shared = self._shared[names] = _Shared(
                kept, _head(kept), ascii_only, HeaderSigner(kept, names),
                # for the copy to a relay without SMTPUTF8, when a field needs it
                _head(seven), HeaderSigner(seven, names))
        return shared

    def _sign(self, signer: HeaderSigner, own: list[tuple[bytes, bytes]], bh: bytes) -> bytes:
        return b"".join(signer.sign(own, bh, key) for key in self.keys)

    def compose(self, variables: dict[str, Any] | None = None,
                headers: Sequence[Sequence[str]] = ()) -> Copy:
        """The complete signed copy for one recipient (and its 7-bit-header twin)."""
        shared = self._shared_for(frozenset(n.lower().encode() for n, _ in headers))
        own = [header_field(n, v) for n, v in headers]
        head = shared.head + _head(own) if own else shared.head
        ascii_only = shared.ascii_only and all(v.isascii() for _, v in own)
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
                return self._fallback(shared.fields + own, text, html)
        copy = Copy(self._sign(shared.signer, own, bh) + head + b"\r\n" + body)
        if not ascii_only:
            own_seven = [self._seven_bit(f) for f in own]
            copy.seven_bit = (self._sign(shared.seven, own_seven, bh) + shared.seven_head
                              + _head(own_seven) + b"\r\n" + body)
        return copy

    def _fallback(self, fields: list[tuple[bytes, bytes]], text: str, html: str) -> Copy:
        """A copy whose footer the email package writes (rare): signed from scratch."""
        fields, body = email_fallback(fields, self.plan.body, text, html)
        bh = body_hash(body)
        signer = HeaderSigner(fields)
        copy = Copy(self._sign(signer, [], bh) + _head(fields) + b"\r\n" + body)
        if not all(v.isascii() for _, v in fields):
            seven = [self._seven_bit(f) for f in fields]
            copy.seven_bit = (self._sign(HeaderSigner(seven), [], bh) + _head(seven)
                              + b"\r\n" + body)
        return copy


@dataclass
class _Shared:
    """What every copy with the same own header names shares (``Composer._shared_for``)."""

    fields: list[tuple[bytes, bytes]]
    head: bytes
    ascii_only: bool
    signer: HeaderSigner
    seven_head: bytes  # the same fields as RFC 2047 ASCII (Copy.seven_bit)
    seven: HeaderSigner


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
