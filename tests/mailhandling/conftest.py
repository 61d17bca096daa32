"""Fixtures of the mail-handling tests: a real authoritative DNS server on loopback.

Every test here resolves DMARC through ``dns_zone`` (DMARC_NAMESERVER points at
it), so no test depends on the machine's resolver or the internet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.conftest import free_port

# The test zone: _dmarc records of the domains posters write from.
RECORDS: dict[str, list[str]] = {
    "_dmarc.example-reject.test": ["v=DMARC1; p=reject; rua=mailto:dmarc@example-reject.test"],
    "_dmarc.example-quarantine.test": ["v=DMARC1; p=quarantine; pct=100"],
    "_dmarc.example-none.test": ["v=DMARC1; p=none"],
    # organisational-domain fallback: sp= applies to subdomains without their own record
    "_dmarc.example-org.co.uk": ["v=DMARC1; p=none; sp=reject"],
    "_dmarc.example-twice.test": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    "_dmarc.example-spf-only.test": ["v=spf1 -all"],
}


class ZoneResolver(BaseResolver):
    """Answers TXT from RECORDS, NXDOMAIN for names it doesn't hold; counts questions."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.questions: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request, handler):  # noqa: ANN001, ANN201 - dnslib's interface
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.questions.append(qname)
        if qname not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for txt in self.records[qname]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(txt), ttl=300))
        return reply


@pytest.fixture(scope="session")
def dns_server() -> Iterator[tuple[DNSServer, ZoneResolver]]:
    resolver = ZoneResolver(RECORDS)
    server = DNSServer(resolver, address="127.0.0.1", port=free_port(),
                       logger=DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                                        prefix=False))
    server.start_thread()
    yield server, resolver
    server.stop()


@pytest.fixture(autouse=True)
def dns_zone(dns_server, monkeypatch) -> ZoneResolver:
    """Point messageserver.dmarc at the test zone, with an empty cache."""
    from messageserver import dmarc

    server, resolver = dns_server
    monkeypatch.setenv("DMARC_NAMESERVER", f"127.0.0.1:{server.server.server_address[1]}")
    dmarc.clear_cache()
    with resolver.lock:
        resolver.questions.clear()
    return resolver


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    """Each test its own ATTACHMENTS_DIR, so files on disk can be counted."""
    settings.ATTACHMENTS_DIR = tmp_path / "attachments"
    return settings.ATTACHMENTS_DIR
