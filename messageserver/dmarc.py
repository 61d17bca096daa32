"""The DMARC policy a poster's domain publishes, so fan-out knows when to rewrite From.

A list changes the message (subject tag, footer) and sends it from its own
servers, so the poster's DKIM and SPF no longer align: where their domain
publishes p=quarantine or p=reject, receivers would bin or bounce our copy
unless From is ours. This module only answers "what does DOMAIN ask for";
fanout decides what to do with the answer.

Lookup (RFC 7489 section 6.6.3): TXT at ``_dmarc.DOMAIN``; when there is no
record, TXT at ``_dmarc.ORGDOMAIN`` where its ``sp=`` (else ``p=``) applies.
The organisational domain comes from a small built-in public-suffix heuristic
(``organisational_domain``), not from the full Public Suffix List: the last
two labels, or the last three when the second-level label is one of the
generic ones countries use under their ccTLD (co.uk, com.au, ne.jp, ...).
Getting it wrong only costs a rewrite that was not strictly needed, or a
fallback lookup that finds nothing.

Answers are cached per domain for DMARC_CACHE_TTL seconds (default 3600),
failures of the DNS itself for a minute. DMARC_NAMESERVER=HOST[:PORT] points
the resolver at one server (tests run an authoritative one on loopback);
without it the system's resolver is used. Never raises: a DNS failure is the
policy "temperror", which fanout treats as "rewrite to be safe".
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.resolver

from platformcore.dnsresolver import make_resolver, parse_nameserver
from platformcore.env import env_int, env_str

log = logging.getLogger(__name__)

# Second-level labels under which a ccTLD registers names (co.uk, com.br, ne.jp).
GENERIC_SECOND_LEVEL = frozenset({
    "ac", "co", "com", "edu", "gov", "govt", "net", "org", "or", "ne", "go", "gob", "mil",
    "nic", "ltd", "plc", "sch", "nom", "gen", "biz", "info", "int", "lg", "ad", "gr", "ed",
})
TEMPFAIL_TTL = 60.0
STRICT = ("quarantine", "reject")


@dataclass(frozen=True)
class Policy:
    """One domain's answer: ``policy`` is none, quarantine, reject, absent or temperror."""

    domain: str
    policy: str
    record: str = ""
    found_at: str = ""  # the domain whose _dmarc record gave the answer

    @property
    def strict(self) -> bool:
        """Whether mail From this domain that fails alignment would be quarantined or refused."""
        return self.policy in STRICT


def organisational_domain(domain: str) -> str:
    """The registered domain of ``domain`` by the built-in heuristic (see module doc)."""
    labels = [lbl for lbl in domain.lower().strip(".").split(".") if lbl]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-1]) == 2 and labels[-2] in GENERIC_SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def parse_record(txt: str) -> dict[str, str] | None:
    """The tags of a DMARC record, or None when ``txt`` is not one (RFC 7489 6.3)."""
    parts = [p.strip() for p in txt.split(";")]
    if not parts or parts[0].replace(" ", "").lower() != "v=dmarc1":
        return None
    tags: dict[str, str] = {}
    for part in parts[1:]:
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip().lower())
    return tags


class _TempFail(Exception):
    pass


class PolicyLookup:
    """A resolver with its own cache; ``lookup(domain)`` is the one question it answers."""

    def __init__(self, nameserver: str = "", cache_ttl: float = 3600.0,
                 timeout: float = 2.0) -> None:
        self.cache_ttl = cache_ttl
        self._cache: dict[str, tuple[float, Policy]] = {}
        self._lock = threading.Lock()
        self.resolver = make_resolver(
            parse_nameserver("DMARC_NAMESERVER", nameserver) if nameserver else None, timeout)

    def _records(self, domain: str) -> list[dict[str, str]]:
        """The DMARC records at _dmarc.DOMAIN ([] when there are none)."""
        try:
            answer = self.resolver.resolve(f"_dmarc.{domain}", "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.DNSException, OSError) as exc:
            raise _TempFail(f"{type(exc).__name__}: {exc}") from None
        records = []
        for rdata in answer:
            txt = b"".join(rdata.strings).decode("utf-8", "replace")
            tags = parse_record(txt)
            if tags is not None:
                records.append({**tags, "_txt": txt})
        return records

    def _lookup_uncached(self, domain: str) -> Policy:
        try:
            records = self._records(domain)
            found_at, use_sp = domain, False
            org = organisational_domain(domain)
            if not records and org != domain:
                records = self._records(org)
                found_at, use_sp = org, True
        except _TempFail as exc:
            log.warning("DMARC lookup for %s failed: %s", domain, exc)
            return Policy(domain, "temperror", record=str(exc))
        if len(records) != 1:  # none, or several: RFC 7489 says apply no policy
            return Policy(domain, "absent")
        tags = records[0]
        policy = tags.get("p", "")
        if use_sp and tags.get("sp"):
            policy = tags["sp"]
        if policy not in ("none", "quarantine", "reject"):
            # a record with a broken p= is treated as p=none (RFC 7489 6.6.3 step 6)
            policy = "none"
        return Policy(domain, policy, record=tags["_txt"], found_at=found_at)

    def lookup(self, domain: str) -> Policy:
        domain = domain.lower().strip().strip(".")
        if not domain or "." not in domain:
            return Policy(domain, "absent")
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(domain)
            if hit and hit[0] > now:
                return hit[1]
        result = self._lookup_uncached(domain)
        ttl = TEMPFAIL_TTL if result.policy == "temperror" else self.cache_ttl
        with self._lock:
            self._cache[domain] = (now + ttl, result)
        return result

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


_lookup: PolicyLookup | None = None
_lookup_key: tuple[str, int] | None = None
_guard = threading.Lock()


def _current() -> PolicyLookup:
    """The process's lookup, rebuilt when DMARC_NAMESERVER or DMARC_CACHE_TTL change."""
    global _lookup, _lookup_key
    key = (env_str("DMARC_NAMESERVER", ""), env_int("DMARC_CACHE_TTL", 3600, minimum=0))
    with _guard:
        if _lookup is None or key != _lookup_key:
            _lookup = PolicyLookup(nameserver=key[0], cache_ttl=float(key[1]))
            _lookup_key = key
        return _lookup


def policy_for(address_or_domain: str) -> Policy:
    """The DMARC policy of an email address's domain (or of a bare domain)."""
    domain = address_or_domain.rpartition("@")[2]
    return _current().lookup(domain)


def clear_cache() -> None:
    _current().clear()
