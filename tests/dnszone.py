"""A real authoritative DNS server on loopback (dnslib), for every test that resolves names.

Tests point the code under test at it (DMARC_NAMESERVER, KARL_DNS_NAMESERVER),
so no test depends on the machine's resolver or the internet. A zone is a
dict of name to records: dnslib rdata (``MX(...)``, ``A(...)``, ``AAAA(...)``)
or plain strings for TXT. Names in ``servfail`` answer SERVFAIL, names in
``silent`` never answer (a resolver times out), other unknown names NXDOMAIN.
"""

from __future__ import annotations

import threading

from dnslib import QTYPE, RCODE, RD, RR, TXT, DNSError
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.conftest import free_port


class ZoneResolver(BaseResolver):
    """Answers from ``records``; counts the questions it is asked."""

    def __init__(self, records: dict[str, list[RD | str]], *, servfail: set[str] | None = None,
                 silent: set[str] | None = None) -> None:
        self.records = records
        self.servfail, self.silent = servfail or set(), silent or set()
        self.questions: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request, handler):  # noqa: ANN001, ANN201 - dnslib's interface
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.questions.append(qname)
        if qname in self.silent:
            raise DNSError(f"{qname}: no answer, on purpose")  # dnslib then sends nothing
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
        elif qname not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
        else:
            for rdata in self.records[qname]:
                rdata = TXT(rdata) if isinstance(rdata, str) else rdata
                rtype = getattr(QTYPE, type(rdata).__name__)
                if request.q.qtype == rtype:
                    reply.add_answer(RR(request.q.qname, rtype, rdata=rdata, ttl=300))
        return reply


def start_dns_server(resolver: ZoneResolver) -> DNSServer:
    """A UDP server on a free loopback port, answering from ``resolver``; stop() it after."""
    server = DNSServer(resolver, address="127.0.0.1", port=free_port(),
                       logger=DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                                        prefix=False))
    server.start_thread()
    return server


def nameserver(server: DNSServer) -> str:
    """The server as a *_NAMESERVER setting: ``127.0.0.1:PORT``."""
    return f"127.0.0.1:{server.server.server_address[1]}"
