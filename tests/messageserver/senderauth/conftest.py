"""Sender authentication against a real DNS zone on loopback, with DKIM keys made here.

The zone (dnslib, tests/dnszone.py) publishes SPF, DKIM and DMARC records for
a handful of sender domains, one per case the checks must tell apart:

============================  =============================  ==========  ===========
From domain                   SPF (client 127.0.0.1)         DKIM key    DMARC
============================  =============================  ==========  ===========
good.test                     pass                           yes         p=reject
strict.test                   fail (-all)                    yes         p=reject
quar.test                     fail (-all)                    yes         p=quarantine
relaxed.test                  fail (-all)                    yes         p=none
quiet.test                    (none)                         no          (none)
flaky.test                    SERVFAIL                       SERVFAIL    SERVFAIL
lists.example.co.uk           (none)                         at org dom  sp=reject at
                                                             example.co.uk  example.co.uk
============================  =============================  ==========  ===========

``SENDER_AUTH`` is on and DMARC_NAMESERVER points at the zone in every test
here (the ``sender_auth`` fixture); the test environment otherwise runs with
it off (tests/testenv.py).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib import TXT

from tests.dnszone import ZoneResolver, nameserver, start_dns_server

MAIL = Path(__file__).parent / "mail"
SELECTOR = "s2026"
SIGNING_DOMAINS = ("good.test", "strict.test", "quar.test", "relaxed.test", "example.co.uk")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Key:
    private_pem: bytes
    public_b64: str


def _make_key() -> Key:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return Key(pem, base64.b64encode(der).decode())


def _txt(text: str) -> TXT:
    """A TXT record of any length, in strings of at most 255 bytes (RFC 1035 3.3.14)."""
    return TXT([text[i:i + 255] for i in range(0, len(text), 255)])


@pytest.fixture(scope="session")
def keys() -> dict[str, Key]:
    return {domain: _make_key() for domain in SIGNING_DOMAINS}


def zone_records(keys: dict[str, Key]) -> dict[str, list]:
    records: dict[str, list] = {
        "good.test": ["v=spf1 ip4:127.0.0.1 -all"],
        "_dmarc.good.test": ["v=DMARC1; p=reject"],
        "strict.test": ["v=spf1 -all"],
        "_dmarc.strict.test": ["v=DMARC1; p=reject; adkim=r"],
        "quar.test": ["v=spf1 -all"],
        "_dmarc.quar.test": ["v=DMARC1; p=quarantine"],
        "relaxed.test": ["v=spf1 -all"],
        "_dmarc.relaxed.test": ["v=DMARC1; p=none"],
        "_dmarc.example.co.uk": ["v=DMARC1; p=none; sp=reject"],
    }
    for domain, key in keys.items():
        records[f"{SELECTOR}._domainkey.{domain}"] = [
            _txt(f"v=DKIM1; k=rsa; p={key.public_b64}")]
    return records


FLAKY = {"flaky.test", "_dmarc.flaky.test", f"{SELECTOR}._domainkey.flaky.test"}


@pytest.fixture(scope="session")
def dns_server(keys) -> Iterator[tuple[object, ZoneResolver]]:
    resolver = ZoneResolver(zone_records(keys), servfail=FLAKY)
    server = start_dns_server(resolver)
    yield server, resolver
    server.stop()


@pytest.fixture
def sender_auth(dns_server, monkeypatch) -> ZoneResolver:
    """SENDER_AUTH on, every lookup against the test zone, all caches empty."""
    from messageserver import dmarc

    server, resolver = dns_server
    monkeypatch.setenv("SENDER_AUTH", "on")
    monkeypatch.setenv("DMARC_NAMESERVER", nameserver(server))
    dmarc.clear_cache()
    with resolver.lock:
        resolver.questions.clear()
    return resolver


def message(sender: str, to: str, subject: str = "Hello", name: str = "Poster") -> bytes:
    """The fixture message mail/post.eml from ``sender`` to ``to``, CRLF line ends."""
    text = (MAIL / "post.eml").read_text().format(
        name=name, sender=sender, to=to, subject=subject,
        msgid=f"auth-{next(_ids)}@{sender.rpartition('@')[2]}")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def sign(raw: bytes, domain: str, keys: dict[str, Key]) -> bytes:
    """``raw`` with a DKIM-Signature of ``domain`` (dkimpy, relaxed/relaxed)."""
    signature = dkim.sign(raw, SELECTOR.encode(), domain.encode(), keys[domain].private_pem,
                          canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return signature + raw


def tamper(raw: bytes) -> bytes:
    """A signed message whose body changed on the way: its signature no longer verifies."""
    return raw.replace(b"This message is part", b"This message was part")
