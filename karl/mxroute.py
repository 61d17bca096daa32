"""Where mail for a domain goes (RFC 5321 section 5.1): MX hosts by preference, then addresses.

DNS only, no SMTP. ``find_route`` answers either with the (host, address)
pairs to try in order, or with the reply every recipient at the domain gets
instead: permanent when the DNS says the domain takes no mail (NXDOMAIN,
the null MX of RFC 7505, no MX and no address), temporary when the DNS
itself failed (SERVFAIL, timeout) or no MX host has an address yet, because a
broken zone is usually mended and a deferred copy is never lost.

Addresses are looked up with the same resolver as the MX records, never with
the system's getaddrinfo, so KARL_DNS_NAMESERVER is the whole truth. Within a
host, IPv4 addresses come before IPv6 ones (hosts without an IPv6 route are
the commoner failure); hosts of equal preference are shuffled (RFC 5321 5.1).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

CACHE_SECONDS = 300.0  # the longest a route is kept, whatever the records' TTL


@dataclass(frozen=True)
class Route:
    targets: tuple[tuple[str, str], ...] = ()  # (MX host, IP address), in the order to try
    code: int = 0  # when there is no target: the reply every recipient gets
    reason: str = ""
    ttl: float = 0.0  # seconds the answer may be reused (0: a temporary failure, ask again)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _addresses(resolver: dns.asyncresolver.Resolver, host: str
                     ) -> tuple[list[str], float, str]:
    """(addresses, ttl, error): A then AAAA records of ``host``; error when the DNS failed."""
    found: list[str] = []
    ttl, error = CACHE_SECONDS, ""
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as exc:
            error = f"{rdtype} of {host}: {_describe(exc)}"
            continue
        found += [r.address for r in answer]
        ttl = min(ttl, answer.rrset.ttl if answer.rrset is not None else ttl)
    return found, ttl, error


async def find_route(resolver: dns.asyncresolver.Resolver, domain: str) -> Route:
    """The route to ``domain``; never raises for a DNS answer, good or bad."""
    implicit = False
    try:
        answer = await resolver.resolve(domain, "MX", search=False)
    except dns.resolver.NXDOMAIN:
        return Route(code=550, reason=f"5.1.2 domain {domain} does not exist (NXDOMAIN)",
                     ttl=CACHE_SECONDS)
    except dns.resolver.NoAnswer:
        implicit, hosts, ttl = True, [domain], CACHE_SECONDS  # RFC 5321 5.1: the implicit MX
    except dns.exception.DNSException as exc:
        return Route(code=451, reason=f"4.4.3 DNS lookup of MX for {domain} failed: "
                                      f"{_describe(exc)}")
    if not implicit:
        records = [(r.preference, str(r.exchange).rstrip(".")) for r in answer]
        ttl = min(CACHE_SECONDS, answer.rrset.ttl if answer.rrset is not None else CACHE_SECONDS)
        if [name for _, name in records] == [""]:
            return Route(code=556, reason=f"5.1.10 {domain} publishes a null MX: "
                                          "it accepts no mail (RFC 7505)", ttl=ttl)
        random.shuffle(records)  # equal preferences in random order; sort is stable
        hosts = [name for _, name in sorted(records, key=lambda r: r[0]) if name]
    looked_up = await asyncio.gather(*(_addresses(resolver, h) for h in hosts))
    targets = tuple((host, address) for host, (found, _, _) in zip(hosts, looked_up, strict=True)
                    for address in found)
    errors = [error for _, _, error in looked_up if error]
    if targets:
        return Route(targets, ttl=min([ttl] + [t for found, t, _ in looked_up if found]))
    if errors:
        return Route(code=451, reason=f"4.4.3 DNS lookup of the mail servers of {domain} "
                                      f"failed: {'; '.join(errors)}")
    if implicit:
        return Route(code=550, reason=f"5.1.2 {domain} has no MX and no A/AAAA record",
                     ttl=ttl)
    return Route(code=451, reason=f"4.4.4 no MX host of {domain} has an address: "
                                  f"{', '.join(hosts)}")
