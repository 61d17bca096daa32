"""Bulk delivery (Group.bulk_delivery): the job messageserver builds, and bounces without VERP.

A post to a bulk group becomes a Karl job of kind "bulk": one copy, built
once (checked here with Karl's own contract and composer), recipients grouped
by domain, one envelope sender. Real reports from tests/corpora/bounces sent
to that envelope sender are matched to the group's members by parsing them.
"""

from __future__ import annotations

import pytest

from groups import tokens
from groups.membership import add_members
from groups.models import BounceEvent, Membership
from karl.contract import validate_job
from messageserver import bulkfanout, pipeline
from tests.conftest import mail
from tests.messageserver.mailhandling.helpers import headers_of, job_for
from tests.messageserver.mailhandling.karlcopy import check_copy, signed_copies
from tests.messageserver.mailhandling.test_bounces import BOUNCES, NOT_FAILURES, REAL_BOUNCES

MEMBERS = ["zed@b.example", "amy@a.example", "Carl@B.example", "dan@a.example"]


@pytest.fixture
def bulk_group(demo_group):
    demo_group.bulk_delivery = True
    demo_group.save(update_fields=["bulk_delivery"])
    add_members(demo_group, MEMBERS)
    return demo_group


def _post(group) -> int:
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [f"{group.name}@groups.localhost"],
                                             mail("member_post.eml"))
    assert outcome.kind == "accepted", outcome
    return outcome.number


def test_a_bulk_group_post_is_one_bulk_job_grouped_by_domain(bulk_group):
    job = job_for("demo", _post(bulk_group))
    assert job["kind"] == "bulk" and job["meta"]["delivery"] == "bulk"
    addresses = [r["address"] for r in job["recipients"]]
    active = set(bulk_group.memberships.filter(status="active").values_list("email", flat=True))
    assert set(addresses) == active and len(addresses) == len(active)
    domains = [a.rpartition("@")[2] for a in addresses]
    assert domains == sorted(domains)  # a domain's members side by side
    assert all(set(r) == {"address"} for r in job["recipients"])  # nothing personal
    assert job["mail_from"] == bulkfanout.group_bounce_address(bulk_group)
    assert "+" in job["mail_from"] and tokens.check(
        tokens.GROUP_BOUNCE, job["mail_from"].split("+")[1].split("@")[0]) == [
        str(bulk_group.pk)]
    heads = headers_of(job)
    assert heads["List-Unsubscribe"] == "<mailto:demo+unsubscribe@groups.localhost>"
    assert "List-Unsubscribe-Post" not in heads  # one-click needs a personal URL
    assert heads["List-Id"].endswith("<demo.groups.localhost>")
    assert validate_job(job).kind == "bulk"  # Karl's contract takes it


def test_the_one_copy_has_the_group_footer_without_personal_links(bulk_group):
    job = job_for("demo", _post(bulk_group))
    [copy] = _as_one_copy(job)
    msg = check_copy(bytes(copy))
    text = msg.get_body(("plain",)).get_content()
    assert "Unsubscribe: mailto:demo+unsubscribe@groups.localhost" in text
    mute_line = next(line for line in text.splitlines() if line.startswith("Mute This Topic"))
    assert mute_line.endswith(job["vars"]["topic_url"])  # the topic's page: nobody's token
    assert job["vars"]["name"] == job["vars"]["email"] == ""
    assert "Groups.io-style links for demo" in text
    assert msg["List-Unsubscribe"] == "<mailto:demo+unsubscribe@groups.localhost>"


def _as_one_copy(job: dict) -> list:
    """The bulk job's one copy, as Karl composes it: the footer with the job's vars."""
    one = {k: v for k, v in job.items() if k not in ("kind", "vars")}
    one["recipients"] = [{"address": job["recipients"][0]["address"], "vars": job["vars"]}]
    return signed_copies(one)


def test_a_group_without_bulk_delivery_keeps_personal_copies(demo_group):
    add_members(demo_group, MEMBERS)
    job = job_for("demo", _post(demo_group))
    assert "kind" not in job
    assert all(r["mail_from"].startswith("bounce+") for r in job["recipients"])


# ------------------------------------------------------------------ bounces without VERP

def _deliver_report(raw: bytes, group):
    address = bulkfanout.group_bounce_address(group)
    assert pipeline.check_recipient(address).kind == "accepted"
    [(_, outcome)] = pipeline.handle_inbound("", [address], raw)
    return outcome


@pytest.mark.parametrize("row", REAL_BOUNCES, ids=[r["file"] for r in REAL_BOUNCES])
def test_a_real_dsn_to_the_group_bounce_address_is_matched_by_parsing(bulk_group, row):
    expected = row["recipients"][0]
    address = expected["address"].lower()
    add_members(bulk_group, [address])
    member = Membership.objects.get(group=bulk_group, email=address)
    _post(bulk_group)
    outcome = _deliver_report((BOUNCES / row["file"]).read_bytes(), bulk_group)
    assert outcome.kind == "accepted", outcome
    [event] = BounceEvent.objects.filter(membership=member)
    assert event.kind == expected["kind"] and event.source == "dsn"
    assert BounceEvent.objects.count() == 1  # nobody else was touched
    # the same report delivered again counts once
    assert _deliver_report((BOUNCES / row["file"]).read_bytes(), bulk_group).kind == "dropped"
    assert BounceEvent.objects.filter(membership=member).count() == 1


def test_a_dsn_naming_two_members_counts_for_both(bulk_group):
    add_members(bulk_group, ["sabineko@example.co.jp", "mikeneko@example.co.jp"])
    outcome = _deliver_report((BOUNCES / "sisimai/lhost-outlook-04.eml").read_bytes(),
                              bulk_group)
    assert outcome.kind == "accepted" and "2 member(s)" in outcome.reason
    got = {(e.membership.email, e.kind) for e in BounceEvent.objects.select_related("membership")}
    assert got == {("sabineko@example.co.jp", "hard"), ("mikeneko@example.co.jp", "soft")}


def test_a_dsn_naming_no_member_or_no_failure_counts_nothing(bulk_group):
    row = REAL_BOUNCES[0]  # its address is no member of the group
    outcome = _deliver_report((BOUNCES / row["file"]).read_bytes(), bulk_group)
    assert outcome.kind == "dropped" and "names no member of demo" in outcome.reason
    not_failure = NOT_FAILURES[0]
    outcome = _deliver_report((BOUNCES / not_failure["file"]).read_bytes(), bulk_group)
    assert outcome.kind == "dropped" and "not a failure" in outcome.reason
    assert not BounceEvent.objects.exists()


def test_a_forged_group_bounce_token_is_dropped(bulk_group):
    row = REAL_BOUNCES[0]
    add_members(bulk_group, [row["recipients"][0]["address"].lower()])
    forged = f"bounce+{bulk_group.pk}-0123456789abcdef0123@groups.localhost"
    [(_, outcome)] = pipeline.handle_inbound("", [forged], (BOUNCES / row["file"]).read_bytes())
    assert outcome.kind == "dropped" and not BounceEvent.objects.exists()
