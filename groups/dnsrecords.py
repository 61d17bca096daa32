"""The DNS records a groups domain must publish, and a live check of what the DNS says.

One list of expected records (MX, SPF, DKIM for each signing key, DMARC) is
built from the settings; ``manage.py dnsrecords`` prints it as zone lines,
docs/deploy.md tells the operator to publish it, and the site admin page
/site/dns/ asks the DNS for each and says OK, missing or wrong, with the
expected value beside what was found. The resolver is the system's, or
DNS_CHECK_NAMESERVER (``IP[:PORT]``) — tests point it at a local zone.

A lookup that fails (timeout, SERVFAIL) is reported as "unknown" with the
reason; it is never taken for a missing record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from karl.dkimkeys import dns_record, ed25519_selector, ensure_ed25519_key, ensure_key
from platformcore.dnsresolver import env_nameserver, make_resolver
from platformcore.env import env_bool, env_str, get_env

OK, MISSING, WRONG, UNKNOWN = "ok", "missing", "wrong", "unknown"
DMARC_POLICY = "v=DMARC1; p=quarantine; adkim=r; aspf=r"


@dataclass(frozen=True)
class Expected:
    """One record to publish: its name, type, value, and why it is needed."""

    name: str
    rtype: str
    value: str
    purpose: str

    def zone_line(self) -> str:
        if self.rtype == "TXT":
            chunks = [self.value[i:i + 255] for i in range(0, len(self.value), 255)]
            value = " ".join(f'"{c}"' for c in chunks)
        else:
            value = self.value
        return f"{self.name}. 3600 IN {self.rtype} {value}"


@dataclass
class Checked:
    """An expected record and what the DNS answered."""

    expected: Expected
    status: str
    found: list[str] = field(default_factory=list)
    note: str = ""


def mail_hostname() -> str:
    """The host that receives the groups' mail: MAIL_HOSTNAME, else SITE_URL's host."""
    return env_str("MAIL_HOSTNAME", urlsplit(get_env().site_url).hostname or "localhost").lower()


def dkim_keys(create: bool = True) -> list[tuple[str, str, str, str]]:
    """(selector, key file, DNS name, TXT value) of every key Karl signs with."""
    env = get_env()
    path = ensure_key(env.dkim_key_path) if create else env.dkim_key_path
    keys = [(env.dkim_selector, path)]
    if env_bool("KARL_DKIM_ED25519", False):
        keys.append((ed25519_selector(env.dkim_selector), ensure_ed25519_key(path)))
    out = []
    for selector, key_path in keys:
        name, value = dns_record(key_path, selector, env.groups_domain)
        out.append((selector, str(key_path), name, value))
    return out


def expected_records() -> list[Expected]:
    domain, host = get_env().groups_domain, mail_hostname()
    records = [
        Expected(domain, "MX", f"10 {host}.", f"mail to *@{domain} goes to {host}"),
        Expected(domain, "TXT", "v=spf1 mx -all",
                 "SPF: the MX host may send as the domain (add your relay's include: if "
                 "KARL_RELAYS is a smarthost)"),
    ]
    records += [Expected(name, "TXT", value, f"DKIM key of selector {selector}")
                for selector, _path, name, value in dkim_keys()]
    records.append(Expected(f"_dmarc.{domain}", "TXT", DMARC_POLICY,
                            "DMARC: receivers check SPF/DKIM alignment"))
    return records


class LookupFailed(Exception):
    """The DNS gave no usable answer (not the same as 'no such record')."""


def _answers(resolver: dns.resolver.Resolver, name: str, rtype: str) -> list[str]:
    try:
        answer = resolver.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise LookupFailed(f"{type(exc).__name__}: {exc}") from None
    if rtype == "TXT":
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]
    if rtype == "MX":
        return [f"{r.preference} {r.exchange.to_text().lower()}" for r in answer]
    return [r.to_text() for r in answer]


def _tags(value: str) -> dict[str, str]:
    """``k=v; k=v`` tag lists (DKIM, DMARC), whitespace removed from the values."""
    tags = {}
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            tags[key.strip().lower()] = re.sub(r"\s+", "", val)
    return tags


def judge(expected: Expected, found: list[str]) -> tuple[str, str]:
    """(status, note) for the records found under the expected name and type."""
    if expected.rtype == "MX":
        if not found:
            return MISSING, ""
        host = expected.value.split()[1]
        if any(f.split()[1] == host for f in found):
            return OK, ""
        return WRONG, f"no MX points at {host}"
    if expected.value.startswith("v=spf1"):
        spf = [f for f in found if f.lower().startswith("v=spf1")]
        if not spf:
            return MISSING, ""
        if len(spf) > 1:
            return WRONG, "more than one SPF record (a permanent error for every receiver)"
        if re.search(r"(^|\s)[+?]?all\b", spf[0]):
            return WRONG, "ends in +all or ?all: it vouches for nobody"
        return OK, ""
    if expected.value.startswith("v=DKIM1"):
        if not found:
            return MISSING, ""
        want = _tags(expected.value).get("p")
        if any(_tags(f).get("p") == want for f in found):
            return OK, ""
        return WRONG, "the published key is not the one Karl signs with"
    dmarc = [f for f in found if f.replace(" ", "").lower().startswith("v=dmarc1")]
    if not dmarc:
        return MISSING, ""
    if len(dmarc) > 1:
        return WRONG, "more than one DMARC record (receivers ignore them all)"
    if _tags(dmarc[0]).get("p") not in ("none", "quarantine", "reject"):
        return WRONG, "no valid p= policy"
    return OK, ""


def check_records(timeout: float = 3.0) -> list[Checked]:
    """Ask the DNS for every expected record."""
    resolver = make_resolver(env_nameserver("DNS_CHECK_NAMESERVER"), timeout)
    results = []
    for expected in expected_records():
        try:
            found = _answers(resolver, expected.name, expected.rtype)
        except LookupFailed as exc:
            results.append(Checked(expected, UNKNOWN, note=f"lookup failed: {exc}"))
            continue
        status, note = judge(expected, found)
        results.append(Checked(expected, status, found, note))
    return results
