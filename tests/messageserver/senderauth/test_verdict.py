"""senderauth.check and stamp, without SMTP: one case per row of the test zone.

The Authentication-Results header is read back with authres's own parser, and
DKIM signatures are made by dkimpy with keys made in the test.
"""

from __future__ import annotations

import email
import email.policy

import pytest
from authres import AuthenticationResultsHeader

from messageserver import senderauth
from tests.messageserver.senderauth.conftest import message, sign, tamper

CLIENT = "127.0.0.1"  # the address the zone's SPF records authorise for good.test
TO = "demo@groups.localhost"


def _check(raw: bytes, mail_from: str, ip: str = CLIENT) -> senderauth.Verdict:
    return senderauth.check(raw, ip=ip, helo="mx.example.net", mail_from=mail_from)


def test_spf_pass_aligned_is_authenticated(sender_auth):
    verdict = _check(message("ann@good.test", TO), "ann@good.test")
    assert (verdict.spf, verdict.aligned_spf, verdict.dmarc) == ("pass", True, "pass")
    assert verdict.authenticated and senderauth.edge_refusal(verdict) is None


def test_spf_from_another_address_fails(sender_auth):
    verdict = _check(message("ann@good.test", TO), "ann@good.test", ip="192.0.2.7")
    assert (verdict.spf, verdict.dmarc, verdict.policy) == ("fail", "fail", "reject")
    refusal = senderauth.edge_refusal(verdict)
    assert refusal is not None and refusal.status == "5.7.1" and "DMARC" in refusal.reason


def test_dkim_pass_rescues_an_spf_fail(sender_auth, keys):
    raw = sign(message("sue@strict.test", TO), "strict.test", keys)
    verdict = _check(raw, "sue@strict.test")
    assert verdict.spf == "fail"
    assert [(d.result, d.domain) for d in verdict.dkim] == [("pass", "strict.test")]
    assert verdict.dmarc == "pass" and verdict.authenticated


def test_broken_dkim_at_a_reject_domain_is_refused(sender_auth, keys):
    raw = tamper(sign(message("sue@strict.test", TO), "strict.test", keys))
    verdict = _check(raw, "sue@strict.test")
    assert [d.result for d in verdict.dkim] == ["fail"]
    assert verdict.dmarc == "fail" and not verdict.authenticated
    refusal = senderauth.edge_refusal(verdict)
    assert refusal is not None and refusal.status == "5.7.1"
    assert "DMARC policy of strict.test is reject" in refusal.reason


def test_signature_of_another_domain_does_not_align(sender_auth, keys):
    """A valid signature by good.test on mail From strict.test: DKIM pass, DMARC fail."""
    raw = sign(message("sue@strict.test", TO), "good.test", keys)
    verdict = _check(raw, "bounce@good.test")
    assert verdict.spf == "pass" and [d.result for d in verdict.dkim] == ["pass"]
    assert not verdict.aligned_spf and not verdict.aligned_dkim and verdict.dmarc == "fail"


def test_quarantine_and_none_failures_are_left_to_the_group(sender_auth):
    for sender, policy in (("q@quar.test", "quarantine"), ("r@relaxed.test", "none")):
        verdict = _check(message(sender, TO), sender)
        assert (verdict.dmarc, verdict.policy) == ("fail", policy)
        assert not verdict.authenticated and senderauth.edge_refusal(verdict) is None


def test_no_records_at_all(sender_auth):
    verdict = _check(message("ned@quiet.test", TO), "ned@quiet.test")
    assert (verdict.spf, verdict.dkim, verdict.dmarc) == ("none", (), "none")
    assert not verdict.authenticated and senderauth.edge_refusal(verdict) is None


def test_dns_failure_is_a_temporary_error_never_a_pass(sender_auth):
    verdict = _check(message("fay@flaky.test", TO), "fay@flaky.test")
    assert verdict.spf == "temperror" and verdict.dmarc == "temperror"
    refusal = senderauth.edge_refusal(verdict)
    assert refusal is not None and refusal.status.startswith("4.7.")
    assert "temperror" in refusal.reason


def test_organisational_domain_alignment_from_the_public_suffix_list(sender_auth, keys):
    """lists.example.co.uk signed by example.co.uk aligns (relaxed); sp=reject applies."""
    raw = sign(message("li@lists.example.co.uk", TO), "example.co.uk", keys)
    verdict = _check(raw, "li@lists.example.co.uk")
    assert verdict.aligned_dkim and verdict.dmarc == "pass" and verdict.policy == "reject"
    forged = _check(message("li@lists.example.co.uk", TO), "li@lists.example.co.uk")
    assert forged.dmarc == "fail" and senderauth.edge_refusal(forged) is not None


def test_lookups_are_cached(sender_auth):
    for _ in range(3):
        _check(message("ann@good.test", TO), "ann@good.test")
    assert sender_auth.questions.count("_dmarc.good.test") == 1
    assert sender_auth.questions.count("good.test") == 1


def test_stamp_records_the_verdict_and_drops_forged_results(sender_auth, keys):
    forged = (b"Authentication-Results: groups.localhost; dmarc=pass header.from=strict.test\r\n"
              b"Authentication-Results: mx.elsewhere.example; spf=pass\r\n")
    raw = forged + tamper(sign(message("sue@strict.test", TO), "strict.test", keys))
    verdict = _check(raw, "sue@strict.test")
    stamped = senderauth.stamp(raw, verdict, "groups.localhost")
    msg = email.message_from_bytes(stamped, policy=email.policy.compat32)
    ours = [h for h in msg.get_all("Authentication-Results")
            if h.strip().startswith("groups.localhost")]
    assert len(ours) == 1, ours
    assert "mx.elsewhere.example; spf=pass" in msg.get_all("Authentication-Results")[1]
    parsed = AuthenticationResultsHeader.parse(f"Authentication-Results: {ours[0]}")
    found = {r.method: r.result for r in parsed.results}
    assert found == {"spf": "fail", "dkim": "fail", "dmarc": "fail"}
    assert stamped.endswith(raw.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_sender_auth_setting_is_parsed_strictly(monkeypatch, value):
    monkeypatch.setenv("SENDER_AUTH", value)
    with pytest.raises(ValueError, match="SENDER_AUTH"):
        senderauth.enabled()


def test_sender_auth_is_on_unless_switched_off(monkeypatch):
    monkeypatch.delenv("SENDER_AUTH", raising=False)
    assert senderauth.enabled()


def test_arc_chain_is_verified_and_recorded(sender_auth, keys):
    """A forwarder (good.test) sealed the message: arc=pass in our header (recorded only)."""
    import dkim

    from tests.messageserver.senderauth.conftest import SELECTOR

    raw = (b"Authentication-Results: relay.good.test; spf=pass smtp.mailfrom=quiet.test\r\n"
           + message("ned@quiet.test", TO))
    seal = dkim.arc_sign(raw, SELECTOR.encode(), b"good.test", keys["good.test"].private_pem,
                         b"relay.good.test")
    sealed = b"".join(seal) + raw
    verdict = _check(sealed, "ned@quiet.test")
    assert verdict.arc == "pass" and not verdict.authenticated  # no sealer is trusted
    assert "arc=pass" in senderauth.header(verdict, "groups.localhost")
    broken = _check(tamper(sealed), "ned@quiet.test")
    assert broken.arc == "fail"


def test_a_silent_server_costs_one_timeout_then_answers_from_the_cache():
    """Lookups are time-limited, and a failure is remembered (not asked again per message)."""
    import time

    from messageserver.dnslookup import CachedDNS, TempFail
    from tests.dnszone import ZoneResolver, nameserver, start_dns_server

    server = start_dns_server(ZoneResolver({}, silent={"slow.test"}))
    try:
        dns = CachedDNS(nameserver(server), timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TempFail):
            dns.txt("slow.test")
        assert time.monotonic() - started < 2
        started = time.monotonic()
        with pytest.raises(TempFail):
            dns.txt("slow.test")
        assert time.monotonic() - started < 0.1
        assert dns.txt("nothing-here.test") == []
    finally:
        server.stop()
