"""The one DNS resolver of messageserver's mail checks: cached, time-limited, one server.

DMARC policies (messageserver.dmarc), SPF (pyspf), DKIM and ARC keys
(dkimpy) all ask their questions here, so one setting points them all at one
server (DMARC_NAMESERVER=HOST[:PORT]; tests run an authoritative dnslib
server on loopback) and one cache answers repeated questions: a list's
posters come from few domains, and a retried message must not cost another
round of lookups.

Answers are cached for the record's TTL, at most DMARC_CACHE_TTL seconds
(default 3600); "no such name" and "no such record" for at most 5 minutes;
a failure of the DNS itself (timeout, SERVFAIL, no server) is raised as
``TempFail`` and remembered for TEMPFAIL_TTL seconds, so a dead server does
not cost every message a full timeout. A caller must turn TempFail into a
temporary error ("try again later"), never into "no record": that would
turn an outage into an accepted forgery.
"""

from __future__ import annotations

import threading
import time

import dns.exception
import dns.rdata
import dns.resolver

from platformcore.dnsresolver import make_resolver, parse_nameserver
from platformcore.env import env_int, env_str

TEMPFAIL_TTL = 60.0
NEGATIVE_TTL = 300.0
TIMEOUT = 2.0  # seconds per question, all tries included


class TempFail(Exception):
    """The DNS did not answer (timeout, SERVFAIL, refused): ask again later."""


class CachedDNS:
    """A resolver with a cache; ``query(name, rdtype)`` is the one question it answers."""

    def __init__(self, nameserver: str = "", cache_ttl: float = 3600.0,
                 timeout: float = TIMEOUT) -> None:
        self.cache_ttl = cache_ttl
        self.resolver = make_resolver(
            parse_nameserver("DMARC_NAMESERVER", nameserver) if nameserver else None, timeout)
        self._cache: dict[tuple[str, str], tuple[float, list[dns.rdata.Rdata] | str]] = {}
        self._lock = threading.Lock()

    def query(self, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
        """The records of ``rdtype`` at ``name`` ([] when there are none); TempFail on failure."""
        key = (name.lower().rstrip("."), rdtype.upper())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > now:
            if isinstance(hit[1], str):
                raise TempFail(hit[1])
            return hit[1]
        value: list[dns.rdata.Rdata] | str
        try:
            answer = self.resolver.resolve(key[0] + ".", key[1], search=False)
            value = list(answer)
            ttl = min(float(answer.rrset.ttl if answer.rrset is not None else 0),
                      self.cache_ttl)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            value, ttl = [], min(NEGATIVE_TTL, self.cache_ttl)
        except (dns.exception.DNSException, OSError) as exc:
            value, ttl = f"{key[0]}/{key[1]}: {type(exc).__name__}: {exc}", TEMPFAIL_TTL
        with self._lock:
            self._cache[key] = (now + ttl, value)
        if isinstance(value, str):
            raise TempFail(value)
        return value

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record at ``name``, its strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [b"".join(r.strings) for r in self.query(name, "TXT")]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


_current: CachedDNS | None = None
_current_key: tuple[str, int] | None = None
_guard = threading.Lock()


def current() -> CachedDNS:
    """The process's resolver, rebuilt when DMARC_NAMESERVER or DMARC_CACHE_TTL change."""
    global _current, _current_key
    key = (env_str("DMARC_NAMESERVER", ""), env_int("DMARC_CACHE_TTL", 3600, minimum=0))
    with _guard:
        if _current is None or key != _current_key:
            _current = CachedDNS(nameserver=key[0], cache_ttl=float(key[1]))
            _current_key = key
        return _current
