"""Who really sent this? SPF, DKIM, ARC and DMARC for every message received by SMTP.

smtpd is the MTA on port 25, so nothing upstream has checked the sender: this
module does what an edge MTA's milters do, once per message, before any
handler looks at it. ``check`` is a plain function of the message and its
SMTP facts (client IP, HELO, MAIL FROM) that smtpd passes along; it returns a
``Verdict``; ``stamp`` records that verdict as an RFC 8601
``Authentication-Results`` header (formatted by ``authres``) at the top of
the message, after removing any such header that claims to be ours (RFC 8601
section 5: a forged "we checked this" must not survive). ``edge_refusal`` is
the one rule that refuses a message outright; what an unauthenticated post
or command may do is decided where posts and commands are decided
(messageserver.policy, commands, modreply) from ``Verdict.authenticated``.

- SPF: pyspf on the client IP and MAIL FROM (HELO for the null sender).
- DKIM: dkimpy, every signature; ARC: dkimpy's chain validation (recorded,
  not yet trusted for anything: no sealer is on a trusted list).
- DMARC (RFC 7489): the From domain's policy (messageserver.dmarc, with the
  organisational domain from the Public Suffix List) and alignment of the
  SPF and DKIM domains, relaxed or strict as the record says.

Every DNS question goes through messageserver.dnslookup (one resolver, one
cache, a time limit). A DNS failure is never read as "no record": when a
message is not authenticated and some answer was missing, the verdict is
``temperror`` and the sender is told to try again later (451 4.7.0).

Why not ``authheaders.authenticate_message``: it verifies only the first
DKIM signature, reads a DMARC lookup failure as "no policy" (an accepted
forgery during an outage) and cannot share our resolver and cache; we use
its building blocks (dkimpy, pyspf, authres) directly instead.

SENDER_AUTH=off (default on) skips all of this, for a development machine
without DNS; a production edge must never run with it off.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email.utils import getaddresses

import dkim
import spf
from authres import (
    AuthenticationResultsHeader,
    DKIMAuthenticationResult,
    SPFAuthenticationResult,
)
from authres.arc import ARCAuthenticationResult
from authres.dmarc import DMARCAuthenticationResult

from messageserver import dmarc, dnslookup
from messageserver.dnslookup import TempFail
from messageserver.outcomes import Outcome, rejected
from platformcore.env import env_bool

log = logging.getLogger(__name__)

SPF_TIMEOUT = 10.0  # seconds for all of one SPF evaluation's lookups (RFC 7208 4.6.4: 20)
MINKEY = 1024  # bits: weaker DKIM keys count as no signature


def enabled() -> bool:
    """SENDER_AUTH (default on): check senders of mail received by SMTP."""
    return env_bool("SENDER_AUTH", True)


def describe() -> str:
    """The settings in one line, for the start-up log; parsing them raises on a typo."""
    if not enabled():
        return "OFF (SENDER_AUTH=off: no sender is checked; never on a public MTA)"
    server = dnslookup.current().resolver.nameservers
    return f"on, DNS {server[0] if server else 'system'} (cache {dnslookup.current().cache_ttl:.0f} s)"


@dataclass(frozen=True)
class DkimResult:
    result: str  # pass | fail | neutral | temperror | permerror
    domain: str  # d=
    selector: str = ""  # s=
    comment: str = ""


@dataclass(frozen=True)
class Verdict:
    """What the checks found about one message."""

    from_domain: str  # "" when From names no (single) address
    spf: str = "none"  # pass | fail | softfail | neutral | none | temperror | permerror
    spf_domain: str = ""  # the MAIL FROM domain (HELO's for the null sender)
    spf_scope: str = "mailfrom"  # mailfrom | helo
    mail_from: str = ""
    helo: str = ""
    dkim: tuple[DkimResult, ...] = ()
    arc: str = "none"  # pass | fail | none
    dmarc: str = "none"  # pass | fail | none | temperror | permerror
    policy: str = ""  # the From domain's DMARC policy: none | quarantine | reject | ""
    aligned_spf: bool = False
    aligned_dkim: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def authenticated(self) -> bool:
        """SPF or DKIM passed for the From domain's organisation (DMARC's test of identity).

        Does not need the domain to publish DMARC: alignment alone says the
        From domain vouched for this message.
        """
        return self.aligned_spf or self.aligned_dkim

    @property
    def temperror(self) -> bool:
        """Not authenticated, and a DNS failure may be why: ask the sender to retry."""
        if self.authenticated:
            return False
        return (self.dmarc == "temperror" or self.spf == "temperror"
                or any(d.result == "temperror" for d in self.dkim))

    def why_not(self) -> str:
        """Why the message is not authenticated, for refusals and moderators."""
        who = self.from_domain or "the From address"
        return f"neither SPF nor DKIM passed for {who}; {self.summary()}"

    def summary(self) -> str:
        """One line for SMTP replies and notices: ``spf=fail dkim=none dmarc=fail (p=reject)``."""
        dkim_text = ",".join(f"{d.result}({d.domain})" for d in self.dkim) or "none"
        policy = f" (p={self.policy})" if self.policy else ""
        return f"spf={self.spf} dkim={dkim_text} dmarc={self.dmarc}{policy}"


def vouched(verdict: Verdict | None) -> bool:
    """Whether a message may act for its From address without asking it first.

    True when authenticated, and when nothing was checked (``None``: a web
    post by a logged-in user, or SENDER_AUTH=off).
    """
    return verdict is None or verdict.authenticated


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 3.1: strict is the same name; relaxed is the same organisational domain."""
    domain, from_domain = domain.lower().strip("."), from_domain.lower().strip(".")
    if not domain or not from_domain:
        return False
    if mode == "s":
        return domain == from_domain
    return dmarc.organisational_domain(domain) == dmarc.organisational_domain(from_domain)


# --- the DNS of pyspf and dkimpy goes through our resolver ------------------------------

def _spf_lookup(name: str, qtype: str, strict: object = True, timeout: float = 0
                ) -> list[tuple[tuple[str, str], object]]:
    """pyspf's DNSLookup interface over messageserver.dnslookup."""
    try:
        records = dnslookup.current().query(name, qtype)
    except TempFail as exc:
        raise spf.TempError(f"DNS {exc}") from None
    out: list[tuple[tuple[str, str], object]] = []
    for r in records:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), r.address))
        elif qtype == "MX":
            out.append(((name, qtype), (r.preference, r.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), r.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), r.strings))
    return out


# pyspf asks the DNS through this module global (its documented hook, which its own
# tests use too); nothing else in our processes uses pyspf.
spf.DNSLookup = _spf_lookup


def _dkim_txt(name: bytes | str, timeout: float = 5) -> bytes | None:
    """dkimpy's dnsfunc: the key record, None when there is none; TempFail propagates."""
    text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
    records = dnslookup.current().txt(text)
    return records[0] if records else None


# --- the checks ----------------------------------------------------------------------

def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".>").lower() if "@" in address else ""


def from_domain(raw: bytes) -> str:
    """The domain of the single From address (RFC 7489 6.6.1), "" when there is not one."""
    headers, _ = dkim.rfc822_parse(raw)
    values = [v.decode("utf-8", "replace").replace("\r\n", "") for k, v in headers
              if k.lower() == b"from"]
    addresses = [a for _, a in getaddresses(values) if a]
    if len(values) != 1 or len(addresses) != 1:
        return ""
    return _domain_of(addresses[0])


def check_spf(ip: str, mail_from: str, helo: str) -> tuple[str, str, str, str]:
    """(result, domain, scope, comment) of SPF for the client ``ip``."""
    if mail_from:
        domain, scope = _domain_of(mail_from), "mailfrom"
    else:
        domain, scope = helo.lower().strip("."), "helo"
    if not ip or not domain:
        return "none", domain, scope, "no client address or no domain to check"
    sender = mail_from or f"postmaster@{domain}"
    try:
        result, comment = spf.check2(ip, sender, helo or domain, querytime=SPF_TIMEOUT)
    except Exception as exc:  # pyspf raises on malformed input: that is not a pass
        result, comment = "permerror", f"{type(exc).__name__}: {exc}"
    return result or "none", domain, scope, comment


def check_dkim(raw: bytes) -> tuple[DkimResult, ...]:
    """The result of each DKIM-Signature, top first."""
    headers, _ = dkim.rfc822_parse(raw)
    count = sum(1 for k, _ in headers if k.lower() == b"dkim-signature")
    results = []
    for idx in range(count):
        verifier = dkim.DKIM(raw, minkey=MINKEY)
        try:
            ok = verifier.verify(idx=idx, dnsfunc=_dkim_txt)
            result, comment = ("pass" if ok else "fail"), ""
        except TempFail as exc:
            result, comment = "temperror", str(exc)
        except dkim.ValidationError as exc:  # e.g. the body hash: the signature fails
            result, comment = "fail", str(exc)
        except dkim.DKIMException as exc:  # a malformed signature or message
            result, comment = "permerror", str(exc)
        fields = getattr(verifier, "signature_fields", None) or {}
        results.append(DkimResult(
            result, fields.get(b"d", b"").decode("ascii", "replace").lower(),
            fields.get(b"s", b"").decode("ascii", "replace"), comment[:200]))
    return tuple(results)


def check_arc(raw: bytes) -> str:
    """The ARC chain's validation state: pass, fail or none (recorded only)."""
    try:
        cv, _results, _comment = dkim.arc_verify(raw, dnsfunc=_dkim_txt)
    except TempFail:
        return "temperror"
    except Exception:  # a malformed chain is a failed one
        return "fail"
    return cv.decode("ascii") if isinstance(cv, bytes) else str(cv)


def check(raw: bytes, *, ip: str, helo: str, mail_from: str) -> Verdict:
    """Authenticate one message; DNS failures become temperror, never a pass or a fail."""
    author = from_domain(raw)
    spf_result, spf_domain, scope, spf_comment = check_spf(ip, mail_from, helo)
    signatures = check_dkim(raw)
    arc = check_arc(raw) if b"arc-seal" in raw[:65536].lower() else "none"
    notes = [f"spf: {spf_comment}"] if spf_comment else []
    if not author:
        return Verdict("", spf_result, spf_domain, scope, mail_from, helo, signatures, arc,
                       "permerror", notes=(*notes, "dmarc: From must name exactly one address"))
    policy = dmarc.policy_for(author)
    adkim, aspf = policy.adkim, policy.aspf
    # RFC 7489 3.1.2: the MAIL FROM domain, or HELO's for the null sender (check_spf).
    aligned_spf = spf_result == "pass" and aligned(spf_domain, author, aspf)
    aligned_dkim = any(d.result == "pass" and aligned(d.domain, author, adkim)
                       for d in signatures)
    if policy.policy == "temperror":
        result = "pass" if aligned_spf or aligned_dkim else "temperror"
        shown = ""
    elif policy.policy == "absent":
        result, shown = "none", ""
    else:
        shown = policy.policy
        if aligned_spf or aligned_dkim:
            result = "pass"
        elif spf_result == "temperror" or any(d.result == "temperror" for d in signatures):
            result = "temperror"
        else:
            result = "fail"
    return Verdict(author, spf_result, spf_domain, scope, mail_from, helo, signatures, arc,
                   result, shown, aligned_spf, aligned_dkim, tuple(notes))


# --- what the edge does with it ------------------------------------------------------

def edge_refusal(verdict: Verdict) -> Outcome | None:
    """The refusal every recipient gets, or None: DMARC reject failures and DNS failures.

    Quarantine and "none" failures are not refused here: the group's policy for
    unauthenticated posts decides (messageserver.policy).
    """
    if verdict.temperror:
        return rejected(
            f"temporary DNS failure while checking the sender ({verdict.summary()}): "
            "DMARC temperror, try again later", status="4.7.0")
    if verdict.dmarc == "fail" and verdict.policy == "reject":
        return rejected(
            f"DMARC policy of {verdict.from_domain} is reject and this message fails DMARC: "
            f"neither SPF nor DKIM passed for {verdict.from_domain} ({verdict.summary()})",
            status="5.7.1")
    return None


# --- the header ----------------------------------------------------------------------

def header(verdict: Verdict, authserv_id: str) -> str:
    """The RFC 8601 Authentication-Results field (name included, no line end)."""
    results: list[object] = [SPFAuthenticationResult(
        result=verdict.spf,
        smtp_mailfrom=(verdict.mail_from or None) if verdict.spf_scope == "mailfrom" else None,
        smtp_helo=verdict.helo or None)]
    if verdict.dkim:
        results += [DKIMAuthenticationResult(result=d.result, header_d=d.domain or None,
                                             header_s=d.selector or None) for d in verdict.dkim]
    else:
        results.append(DKIMAuthenticationResult(result="none"))
    if verdict.arc != "none":
        results.append(ARCAuthenticationResult(result=verdict.arc))
    results.append(DMARCAuthenticationResult(
        result=verdict.dmarc, header_from=verdict.from_domain or None,
        policy=verdict.policy or None))
    text = str(AuthenticationResultsHeader(authserv_id=authserv_id, results=results))
    return re.sub(r"[\r\n]+\s*", " ", text)


_FIELD = re.compile(rb"^Authentication-Results[ \t]*:[ \t]*(?:\([^)]*\)[ \t]*)?([^;\s]+)",
                    re.IGNORECASE)


def stamp(raw: bytes, verdict: Verdict, authserv_id: str) -> bytes:
    """``raw`` with our Authentication-Results on top and any forged one of ours removed."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    eol = b"\r\n"
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
        eol = b"\n"
    fields: list[list[bytes]] = []
    for line in head.split(eol):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    kept = []
    for lines in fields:
        match = _FIELD.match(b" ".join(x.strip() for x in lines))
        if match and match.group(1).decode("ascii", "replace").lower() == authserv_id.lower():
            continue
        kept.append(eol.join(lines))
    ours = header(verdict, authserv_id).encode("utf-8")
    return eol.join([ours, *kept]) + sep + body
