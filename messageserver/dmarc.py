"""The DMARC policy a poster's domain publishes, so fan-out knows when to rewrite From.

A list changes the message (subject tag, footer) and sends it from its own
servers, so the poster's DKIM and SPF no longer align: where their domain
publishes p=quarantine or p=reject, receivers would bin or bounce our copy
unless From is ours. This module only answers "what does DOMAIN ask for";
fanout decides what to do with the answer.

Lookup (RFC 7489 section 6.6.3): TXT at ``_dmarc.DOMAIN``; when there is no
record, TXT at ``_dmarc.ORGDOMAIN`` where its ``sp=`` (else ``p=``) applies.
The organisational domain comes from the Public Suffix List as shipped in
the ``publicsuffixlist`` package (no fetch at run time); sender
authentication (messageserver.senderauth) uses the same function for DMARC
alignment, so "same organisation" means one thing everywhere.

Answers are cached per domain for DMARC_CACHE_TTL seconds (default 3600),
failures of the DNS itself for a minute. The questions go through
messageserver.dnslookup, the one resolver of the mail checks
(DMARC_NAMESERVER=HOST[:PORT] points it at one server). Never raises: a DNS failure is the
policy "temperror", which fanout treats as "rewrite to be safe".
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from messageserver import dnslookup
from messageserver.dnslookup import CachedDNS, TempFail

log = logging.getLogger(__name__)

_PSL = PublicSuffixList()  # the list shipped in the package: no network at run time
TEMPFAIL_TTL = 60.0
STRICT = ("quarantine", "reject")


@dataclass(frozen=True)
class Policy:
    """One domain's answer: ``policy`` is none, quarantine, reject, absent or temperror."""

    domain: str
    policy: str
    record: str = ""
    found_at: str = ""  # the domain whose _dmarc record gave the answer
    adkim: str = "r"  # alignment modes of the record: r(elaxed) or s(trict)
    aspf: str = "r"

    @property
    def strict(self) -> bool:
        """Whether mail From this domain that fails alignment would be quarantined or refused."""
        return self.policy in STRICT


def organisational_domain(domain: str) -> str:
    """The registered domain of ``domain`` (RFC 7489 3.2: public suffix plus one label).

    A public suffix itself (``co.uk``) is its own organisational domain.
    """
    domain = domain.lower().strip().strip(".")
    return _PSL.privatesuffix(domain) or domain


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


class PolicyLookup:
    """Policies with their own cache; ``lookup(domain)`` is the one question it answers."""

    def __init__(self, nameserver: str = "", cache_ttl: float = 3600.0,
                 timeout: float = dnslookup.TIMEOUT, dns: CachedDNS | None = None) -> None:
        self.cache_ttl = cache_ttl
        self._cache: dict[str, tuple[float, Policy]] = {}
        self._lock = threading.Lock()
        self.dns = dns or CachedDNS(nameserver, cache_ttl, timeout)

    def _records(self, domain: str) -> list[dict[str, str]]:
        """The DMARC records at _dmarc.DOMAIN ([] when there are none); TempFail."""
        records = []
        for raw in self.dns.txt(f"_dmarc.{domain}"):
            txt = raw.decode("utf-8", "replace")
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
        except TempFail as exc:
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
        return Policy(domain, policy, record=tags["_txt"], found_at=found_at,
                      adkim="s" if tags.get("adkim") == "s" else "r",
                      aspf="s" if tags.get("aspf") == "s" else "r")

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
_guard = threading.Lock()


def _current() -> PolicyLookup:
    """The process's lookup, on the process's resolver (rebuilt when its settings change)."""
    global _lookup
    resolver = dnslookup.current()
    with _guard:
        if _lookup is None or _lookup.dns is not resolver:
            _lookup = PolicyLookup(cache_ttl=resolver.cache_ttl, dns=resolver)
        return _lookup


def policy_for(address_or_domain: str) -> Policy:
    """The DMARC policy of an email address's domain (or of a bare domain)."""
    domain = address_or_domain.rpartition("@")[2]
    return _current().lookup(domain)


def clear_cache() -> None:
    """Forget every policy and every DNS answer (tests, after changing the zone)."""
    _current().clear()
    dnslookup.current().clear()
