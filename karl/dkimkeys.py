"""The domain's DKIM keys on disk, and the DNS records that publish them.

``ensure_key`` creates a 2048-bit RSA key (PEM, mode 0600) the first time;
an optional Ed25519 key (RFC 8463) lives beside it as ``PATH.ed25519`` and is
used when KARL_DKIM_ED25519 is on. ``dns_record`` gives exactly what to put in
DNS; the end-to-end tests verify signatures against that text, so what is
published and what is signed can never drift apart.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def ed25519_path(path: Path) -> Path:
    return Path(str(path) + ".ed25519")


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # never replace a key another process just created
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def ensure_key(path: Path | str, bits: int = 2048) -> Path:
    """Create the RSA key at ``path`` if it is missing; returns the path."""
    path = Path(path)
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        _write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return path


def ensure_ed25519_key(path: Path | str) -> Path:
    """Create the Ed25519 key beside the RSA key at ``path`` if missing."""
    target = ed25519_path(Path(path))
    if not target.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        _write_private(target, key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return target


def public_key_b64(path: Path | str) -> tuple[str, str]:
    """(k= algorithm, p= base64 public key) of the private key at ``path``."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        return "ed25519", base64.b64encode(raw).decode()
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "rsa", base64.b64encode(der).decode()


def dns_record(path: Path | str, selector: str, domain: str) -> tuple[str, str]:
    """(DNS name, TXT value) that publishes the key at ``path``."""
    algorithm, public = public_key_b64(path)
    return f"{selector}._domainkey.{domain}", f"v=DKIM1; k={algorithm}; p={public}"


def ed25519_selector(selector: str) -> str:
    """The Ed25519 key is published under its own selector (RFC 8463 suggests one per algorithm)."""
    return f"{selector}-ed25519"
