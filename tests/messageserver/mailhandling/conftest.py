"""Fixtures of the mail-handling tests: a real authoritative DNS server on loopback.

Every test here resolves DMARC through ``dns_zone`` (DMARC_NAMESERVER points at
it), so no test depends on the machine's resolver or the internet.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dnslib.server import DNSServer

from tests.dnszone import ZoneResolver, nameserver, start_dns_server

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


@pytest.fixture(scope="session")
def dns_server() -> Iterator[tuple[DNSServer, ZoneResolver]]:
    resolver = ZoneResolver(RECORDS)
    server = start_dns_server(resolver)
    yield server, resolver
    server.stop()


@pytest.fixture(autouse=True)
def dns_zone(dns_server, monkeypatch) -> ZoneResolver:
    """Point messageserver.dmarc at the test zone, with an empty cache."""
    from messageserver import dmarc

    server, resolver = dns_server
    monkeypatch.setenv("DMARC_NAMESERVER", nameserver(server))
    dmarc.clear_cache()
    with resolver.lock:
        resolver.questions.clear()
    return resolver


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    """Each test its own ATTACHMENTS_DIR, so files on disk can be counted."""
    settings.ATTACHMENTS_DIR = tmp_path / "attachments"
    return settings.ATTACHMENTS_DIR
