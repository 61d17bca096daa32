"""DMARC against a real authoritative DNS server on loopback, and the From rewrite it drives."""

from __future__ import annotations

from email.headerregistry import Address
from email.policy import default

import pytest

from groups.membership import add_members
from groups.models import Group
from messageserver import dmarc, pipeline, posts
from tests.conftest import free_port
from tests.messageserver.mailhandling.helpers import fixture, headers_of, job_for


def from_of(headers: dict[str, str]) -> tuple[str, str]:
    """(display name, address) of the job's From, decoded as a mail reader would."""
    header = default.header_factory("From", headers["From"])
    [address] = header.addresses
    assert isinstance(address, Address)
    return address.display_name, address.addr_spec


@pytest.mark.parametrize(("domain", "policy", "found_at"), [
    ("example-reject.test", "reject", "example-reject.test"),
    ("example-quarantine.test", "quarantine", "example-quarantine.test"),
    ("example-none.test", "none", "example-none.test"),
    ("example-norecord.test", "absent", ""),
    # no record of its own: the organisational domain's p= applies
    ("lists.example-reject.test", "reject", "example-reject.test"),
    # ... or its sp= when it has one; the org domain itself keeps p=
    ("mail.example-org.co.uk", "reject", "example-org.co.uk"),
    ("example-org.co.uk", "none", "example-org.co.uk"),
    # two DMARC records, or a TXT that is not DMARC: no policy (RFC 7489 6.6.3)
    ("example-twice.test", "absent", ""),
    ("example-spf-only.test", "absent", ""),
])
def test_policy_lookup(domain, policy, found_at):
    result = dmarc.policy_for(f"someone@{domain}")
    assert (result.policy, result.found_at) == (policy, found_at)
    assert result.strict == (policy in ("quarantine", "reject"))


def test_fallback_asks_the_domain_then_the_organisational_domain(dns_zone):
    dmarc.policy_for("x@deep.lists.example-reject.test")
    assert dns_zone.questions == ["_dmarc.deep.lists.example-reject.test",
                                  "_dmarc.example-reject.test"]


def test_answers_are_cached(dns_zone):
    for _ in range(3):
        assert dmarc.policy_for("a@example-quarantine.test").policy == "quarantine"
        assert dmarc.policy_for("b@example-norecord.test").policy == "absent"
    assert dns_zone.questions.count("_dmarc.example-quarantine.test") == 1
    assert dns_zone.questions.count("_dmarc.example-norecord.test") == 1


def test_unreachable_server_is_a_temporary_error_and_not_cached_long():
    lookup = dmarc.PolicyLookup(nameserver=f"127.0.0.1:{free_port()}", timeout=0.3)
    result = lookup.lookup("example-reject.test")
    assert result.policy == "temperror" and not result.strict


def test_bad_nameserver_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DMARC_NAMESERVER", "127.0.0.1:fifty-three")
    with pytest.raises(ValueError, match="DMARC_NAMESERVER"):
        dmarc.policy_for("a@example-reject.test")


@pytest.mark.parametrize(("domain", "org"), [
    ("example.org", "example.org"), ("a.b.example.org", "example.org"),
    ("lists.example.co.uk", "example.co.uk"), ("mail.example.com.au", "example.com.au"),
    ("www.example.de", "example.de"), ("EXAMPLE.ORG.", "example.org"),
    # from the Public Suffix List, which a two-or-three-labels rule gets wrong
    ("alice.github.io", "alice.github.io"), ("lists.example.blogspot.com", "example.blogspot.com"),
    ("co.uk", "co.uk"),
])
def test_organisational_domain(domain, org):
    assert dmarc.organisational_domain(domain) == org


@pytest.fixture
def strict_posters(demo_group):
    add_members(demo_group, ["Rita Strict <rita@example-reject.test>",
                             "Quinn Careful <quinn@example-quarantine.test>",
                             "Nora Relaxed <nora@example-none.test>",
                             "Abe Plain <abe@example-norecord.test>",
                             "Sam Sub <sam@mail.example-org.co.uk>"])
    return demo_group


def _post(group: Group, address: str, name: str) -> dict:
    raw = posts.compose(group, address, name, f"A post from {name}", "Hello.")
    [(_, outcome)] = pipeline.handle_inbound(address, [group.post_address], raw)
    assert outcome.kind == "accepted", outcome
    return job_for(group.name, outcome.number)


@pytest.mark.parametrize(("address", "name", "rewritten"), [
    ("rita@example-reject.test", "Rita Strict", True),
    ("quinn@example-quarantine.test", "Quinn Careful", True),
    ("sam@mail.example-org.co.uk", "Sam Sub", True),
    ("nora@example-none.test", "Nora Relaxed", False),
    ("abe@example-norecord.test", "Abe Plain", False),
])
def test_from_is_rewritten_for_quarantine_and_reject(strict_posters, address, name, rewritten):
    job = _post(strict_posters, address, name)
    headers = headers_of(job)
    if rewritten:
        assert from_of(headers) == (f"{name} via demo", "demo@groups.localhost")
        assert "From" in job["remove_headers"]
    else:
        assert "From" not in headers and "From" not in job["remove_headers"]
    assert headers["Reply-To"] == "demo@groups.localhost"  # the group's default setting


def test_rewrite_removes_signatures_and_sets_reply_to_per_group(strict_posters):
    Group.objects.filter(pk=strict_posters.pk).update(reply_to=Group.ReplyTo.SENDER)
    [(_, outcome)] = pipeline.handle_inbound("rita@example-reject.test", ["demo@groups.localhost"],
                                             fixture("reject_domain_post.eml"))
    job = job_for("demo", outcome.number)
    headers = headers_of(job)
    assert from_of(headers) == ("Rita Strict via demo", "demo@groups.localhost")
    # the poster is reachable only through Reply-To once From is the group's
    assert headers["Reply-To"] == "rita@example-reject.test"
    for name in ("DKIM-Signature", "ARC-Seal", "ARC-Message-Signature",
                 "ARC-Authentication-Results", "Return-Path", "Delivered-To", "Reply-To",
                 "From"):
        assert name in job["remove_headers"], name


def test_group_setting_never_and_always(strict_posters):
    Group.objects.filter(pk=strict_posters.pk).update(dmarc_handling=Group.DmarcHandling.NEVER)
    strict_posters.refresh_from_db()
    assert "From" not in headers_of(_post(strict_posters, "rita@example-reject.test", "Rita"))
    Group.objects.filter(pk=strict_posters.pk).update(dmarc_handling=Group.DmarcHandling.ALWAYS)
    strict_posters.refresh_from_db()
    headers = headers_of(_post(strict_posters, "abe@example-norecord.test", "Abe Plain"))
    assert from_of(headers) == ("Abe Plain via demo", "demo@groups.localhost")


def test_non_ascii_name_is_encoded(strict_posters):
    headers = headers_of(_post(strict_posters, "rita@example-reject.test", "Rïta Ström"))
    assert headers["From"].startswith("=?utf-8?")  # RFC 2047 on the wire
    assert from_of(headers) == ("Rïta Ström via demo", "demo@groups.localhost")
