"""Fast DKIM signing (RFC 6376 relaxed/relaxed rsa-sha256, RFC 8463 ed25519-sha256).

dkimpy signs in pure Python (milliseconds per RSA signature); here OpenSSL does
the private-key work through ``cryptography`` and the canonicalisation runs as
a few C-level regex passes. The body is hashed from *pieces*: every piece is a
run of whole CRLF-terminated lines, so the canonical form of the body is the
concatenation of the canonical pieces (apart from trailing empty lines, which
``BodyHasher.digest`` strips across pieces). The pieces shared by all
recipients are canonicalised once per job; per recipient only the footer is.

This module never verifies: the tests do that with dkimpy, an independent
implementation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

_TRAILING_WSP = re.compile(rb"[\t ]+\r\n")
_WSP = re.compile(rb"[\t ]+")
_FOLD = re.compile(rb"\r?\n")

# RFC 6376 5.4.1 recommends these; we sign those that are present.
SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
                  b"list-unsubscribe", b"list-unsubscribe-post", b"reply-to", b"cc",
                  b"mime-version", b"content-type")


def canon_body_piece(piece: bytes) -> bytes:
    """Relaxed canonical form of whole lines (no trailing-empty-line stripping).

    Most pieces (a rendered footer, per copy) are canonical already: no tab, no
    run of spaces, no space before a line end. Three substring checks find
    that faster than the two regular-expression passes that would change nothing.
    """
    if b"\t" not in piece and b"  " not in piece and b" \r\n" not in piece:
        return piece
    return _WSP.sub(b" ", _TRAILING_WSP.sub(b"\r\n", piece))


def canon_header(name: bytes, value: bytes) -> bytes:
    """Relaxed canonical form of one header field (RFC 6376 3.4.2)."""
    return (name.strip().lower() + b":"
            + _WSP.sub(b" ", _FOLD.sub(b"", value)).strip() + b"\r\n")


class BodyHasher:
    """Incremental relaxed body hash; ``copy()`` lets a shared prefix be hashed once.

    Trailing CRLFs are held back rather than hashed, since relaxed
    canonicalisation drops empty lines at the end of the body, and we only
    know they were at the end when ``digest`` is called.
    """

    __slots__ = ("_hash", "_pending", "_any")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pending = 0  # CRLFs seen at the end so far, not yet hashed
        self._any = False

    def copy(self) -> BodyHasher:
        other = BodyHasher.__new__(BodyHasher)
        other._hash = self._hash.copy()
        other._pending = self._pending
        other._any = self._any
        return other

    def update_canonical(self, piece: bytes) -> None:
        """Add an already canonical run of whole lines."""
        if not piece:
            return
        stripped = piece.rstrip(b"\r\n")
        if not stripped:
            self._pending += len(piece) // 2
            return
        if self._pending:
            self._hash.update(b"\r\n" * self._pending)
        self._hash.update(stripped)
        self._pending = (len(piece) - len(stripped)) // 2
        self._any = True

    def update(self, piece: bytes) -> None:
        self.update_canonical(canon_body_piece(piece))

    def digest(self) -> bytes:
        h = self._hash.copy()
        if self._any:
            h.update(b"\r\n")  # the last non-empty line keeps its line end
        return h.digest()


def body_hash(body: bytes) -> bytes:
    """The relaxed body hash of a whole CRLF body (a line end is added if missing)."""
    hasher = BodyHasher()
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    hasher.update(body)
    return hasher.digest()


@dataclass(frozen=True)
class SigningKey:
    """One private key with the algorithm and selector it signs under."""

    domain: str
    selector: str
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

    @property
    def algorithm(self) -> bytes:
        return b"ed25519-sha256" if isinstance(self.key, ed25519.Ed25519PrivateKey) \
            else b"rsa-sha256"

    def sign_data(self, data: bytes) -> bytes:
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            # RFC 8463: Ed25519 signs the SHA-256 hash of the canonical data.
            return self.key.sign(hashlib.sha256(data).digest())
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def load_key(pem: bytes, domain: str, selector: str) -> SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("DKIM keys must be RSA or Ed25519")
    return SigningKey(domain=domain, selector=selector, key=key)


def split_headers(header_block: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value incl. folding) pairs of a CRLF header block."""
    fields: list[tuple[bytes, bytes]] = []
    for line in header_block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
            continue
        name, sep, value = line.partition(b":")
        if sep:
            fields.append((name, value))
    return fields


class HeaderSigner:
    """Signs copies whose header fields are ``fixed`` plus a few of their own.

    The signed fields that every copy of a job shares are found, ordered and
    canonicalised once here; per copy only the fields named in ``own`` (a
    recipient's List-Unsubscribe) and the signature's own field are. The
    DKIM-Signature field is written in its relaxed canonical form directly
    (the value is ours: no folding whitespace but the line breaks it is
    built with), not run through ``canon_header``'s regular expressions.
    A copy's own fields come after the fixed ones (as the composer writes
    them), which decides their order when a name occurs in both.
    """

    def __init__(self, fixed: Sequence[tuple[bytes, bytes]], own: Iterable[bytes] = (),
                 signed: Iterable[bytes] = SIGNED_HEADERS) -> None:
        own = frozenset(name.lower() for name in own)
        by_name: dict[bytes, list[bytes]] = {}
        for name, value in fixed:
            by_name.setdefault(name.strip().lower(), []).append(value)
        # per signed name in order: the shared fields' (names, canonical data), or for a
        # name a copy brings its own of, that name and the shared fields' canonical forms
        # (a copy's own fields come after the shared ones, so they are signed first)
        self._plan: list[tuple[bytes, bytes] | tuple[bytes, list[bytes]]] = []
        names: list[bytes] = []
        data = b""
        for wanted in signed:
            shared = [canon_header(wanted, v) for v in reversed(by_name.get(wanted, ()))]
            if wanted in own:
                self._plan += [(b":".join(names), data), (wanted, shared)]
                names, data = [], b""
                continue
            names += [wanted] * len(shared)
            data += b"".join(shared)
        self._plan.append((b":".join(names), data))
        self._plan = [step for step in self._plan if isinstance(step[1], list) or step[1]]

    def sign(self, own: Sequence[tuple[bytes, bytes]], bh: bytes, key: SigningKey,
             now: int | None = None) -> bytes:
        """A complete ``DKIM-Signature: ...\\r\\n`` field for the fixed fields plus ``own``.

        Headers are signed bottom-up per name, as RFC 6376 5.4.2 requires when a
        name occurs more than once.
        """
        mine: dict[bytes, list[bytes]] = {}
        for name, value in own:
            mine.setdefault(name.strip().lower(), []).append(value)
        names: list[bytes] = []
        data: list[bytes] = []
        for name, step in self._plan:
            if isinstance(step, bytes):
                names.append(name)
                data.append(step)
                continue
            for value in reversed(mine.get(name, ())):
                names.append(name)
                data.append(canon_header(name, value))
            names += [name] * len(step)
            data += step
        stamp = str(int(time.time()) if now is None else now).encode()
        h, b64bh = b":".join(names), base64.b64encode(bh)
        head = (b" v=1; a=" + key.algorithm + b"; c=relaxed/relaxed; d=" + key.domain.encode()
                + b"; s=" + key.selector.encode() + b"; t=" + stamp)
        # the field as written, and its relaxed canonical form: the same without the
        # CRLFs of its folding (what canon_header would make of it)
        value = head + b";\r\n h=" + h + b";\r\n bh=" + b64bh + b";\r\n b="
        data.append(b"dkim-signature:" + head[1:] + b"; h=" + h + b"; bh=" + b64bh + b"; b=")
        signature = base64.b64encode(key.sign_data(b"".join(data)))
        folded = b"\r\n ".join(signature[i:i + 72] for i in range(0, len(signature), 72))
        return b"DKIM-Signature:" + value + folded + b"\r\n"


def sign(headers: Sequence[tuple[bytes, bytes]], bh: bytes, key: SigningKey,
         signed: Iterable[bytes] = SIGNED_HEADERS, now: int | None = None) -> bytes:
    """A complete ``DKIM-Signature: ...\\r\\n`` field for these headers and body hash
    (``HeaderSigner`` with every field fixed: the one way a signature is made)."""
    return HeaderSigner(headers, (), signed).sign((), bh, key, now)
