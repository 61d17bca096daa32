"""Bounces and complaints at the VERP address, end to end through the inbound pipeline.

Real reports from tests/corpora/bounces are delivered to the bounce address
of a copy we really queued (taken from the fan-out job), as an MTA would.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from groups import tokens
from groups.membership import add_members
from groups.models import BounceEvent, Membership, OutboxItem
from messageserver import mailparse, membership_actions, pipeline
from tests.conftest import CORPORA, mail
from tests.messageserver.mailhandling.helpers import job_for

BOUNCES = CORPORA / "bounces"
EXPECTED = [json.loads(line) for line in (BOUNCES / "expected.jsonl").read_text().splitlines()
            if line.strip()]


def _one_failure_each(prefixes: tuple[str, ...]) -> list[dict]:
    """The first report per mail-server kind naming one failed address with a verdict."""
    chosen: dict[str, dict] = {}
    for row in EXPECTED:
        rcpts = row["recipients"] or []
        prefix = next((p for p in prefixes if row["file"].startswith(p)), None)
        if (prefix and prefix not in chosen and row["category"] == "bounce" and len(rcpts) == 1
                and rcpts[0]["address"] and rcpts[0]["kind"]):
            chosen[prefix] = row
    return list(chosen.values())


REAL_BOUNCES = _one_failure_each(("sisimai/lhost-postfix", "sisimai/lhost-exim",
                                  "sisimai/lhost-gmail", "sisimai/lhost-sendmail"))
NOT_FAILURES = [row for row in EXPECTED
                if row["category"] in ("warning", "autoreply", "delivery-report", "negative")]


def _verp_of(group_name: str, number: int, address: str) -> str:
    """The envelope sender our fan-out gave ``address``'s copy of message ``number``."""
    [rcpt] = [r for r in job_for(group_name, number)["recipients"] if r["address"] == address]
    return rcpt["mail_from"]


@pytest.fixture
def posted(demo_group):
    """demo with one message fanned out; returns the group."""
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             mail("member_post.eml"))
    assert outcome.kind == "accepted" and outcome.number == 1
    return demo_group


def _deliver(raw: bytes, verp: str):
    assert pipeline.check_recipient(verp).kind == "accepted"
    [(_, outcome)] = pipeline.handle_inbound("", [verp], raw)
    return outcome


@pytest.mark.parametrize("row", REAL_BOUNCES, ids=[r["file"] for r in REAL_BOUNCES])
def test_real_bounce_is_recorded_for_the_member_the_token_names(posted, row):
    expected = row["recipients"][0]
    address = expected["address"].lower()
    add_members(posted, [address])
    member = Membership.objects.get(group=posted, email=address)
    # the member got message 2, and this is its bounce
    [(_, outcome)] = pipeline.handle_inbound("alice@example.org", ["demo@groups.localhost"],
                                             mail("member_reply.eml"))
    verp = _verp_of("demo", outcome.number, address)
    before = timezone.now()
    result = _deliver((BOUNCES / row["file"]).read_bytes(), verp)
    assert result.kind == "accepted", result
    [event] = BounceEvent.objects.filter(membership=member)
    assert event.kind == expected["kind"] and event.message_number == outcome.number
    assert event.source == "dsn" and event.at >= before - timedelta(seconds=1)
    if expected["status"]:
        assert event.status == expected["status"]
    assert not event.diagnostic.startswith("[report names")  # the address confirmed the token
    member.refresh_from_db()
    assert member.bounce_score == (1.0 if expected["kind"] == "hard" else 0.5)
    assert member.first_bounce_at == member.last_bounce_at == event.at
    assert BounceEvent.objects.count() == 1  # nobody else was touched


def test_token_is_authoritative_when_the_report_names_another_address(posted):
    row = REAL_BOUNCES[0]
    verp = _verp_of("demo", 1, "dora@example.org")
    assert _deliver((BOUNCES / row["file"]).read_bytes(), verp).kind == "accepted"
    [event] = BounceEvent.objects.all()
    assert event.membership.email == "dora@example.org"
    assert event.diagnostic.startswith(f"[report names {row['recipients'][0]['address']}")


@pytest.mark.parametrize("tamper", ["mac", "purpose", "member", "garbage"])
def test_forged_token_changes_nothing(posted, tamper):
    dora = Membership.objects.get(email="dora@example.org")
    good = _verp_of("demo", 1, "dora@example.org").split("+", 1)[1].split("@")[0]
    token = {
        "mac": good[:-1] + ("0" if good[-1] != "0" else "1"),
        "purpose": tokens.make(tokens.UNSUBSCRIBE, dora.pk, 1),
        "member": re.sub(r"^\d+", str(dora.pk + 1000), good),
        "garbage": "not-a-token",
    }[tamper]
    outcome = _deliver((BOUNCES / REAL_BOUNCES[0]["file"]).read_bytes(),
                       f"bounce+{token}@groups.localhost")
    assert outcome.kind == "dropped" and "token" in outcome.reason
    assert not BounceEvent.objects.exists()
    assert Membership.objects.filter(bounce_score__gt=0).count() == 0


@pytest.mark.parametrize("row", NOT_FAILURES[::4], ids=[r["file"] for r in NOT_FAILURES[::4]])
def test_warnings_autoreplies_and_posts_never_count(posted, row):
    verp = _verp_of("demo", 1, "dora@example.org")
    outcome = _deliver((BOUNCES / row["file"]).read_bytes(), verp)
    assert outcome.kind == "dropped" and "nothing recorded" in outcome.reason
    assert not BounceEvent.objects.exists()


def _complaint(feedback_type: str) -> bytes:
    [row] = [r for r in EXPECTED if r["category"] == "complaint"
             and r["recipients"][0]["feedback_type"] == feedback_type][:1]
    return (BOUNCES / row["file"]).read_bytes()


def test_spam_complaint_removes_the_member_and_mails_a_restore_link(posted):
    dora = Membership.objects.get(email="dora@example.org")
    verp = _verp_of("demo", 1, "dora@example.org")
    OutboxItem.objects.all().delete()  # keep only what the complaint queues
    outcome = _deliver(_complaint("abuse"), verp)
    assert outcome.kind == "accepted", outcome
    dora.refresh_from_db()
    assert dora.status == Membership.Status.REMOVED
    assert not BounceEvent.objects.exists()  # a complaint is not a bounce
    [item] = OutboxItem.objects.all()
    assert [r["address"] for r in item.payload["recipients"]] == ["dora@example.org"]
    notice = email.message_from_bytes(base64.b64decode(item.payload["message_b64"]),
                                      policy=email.policy.default)
    assert "spam" in notice["Subject"]
    body = notice.get_body(("plain",)).get_content()
    [url] = re.findall(r"http://testserver/restore/(\S+)/", body)
    # bound to this removal (the membership's removal count now)
    assert tokens.check(tokens.RESTORE, url, expires=True) == [str(dora.pk),
                                                               str(dora.removal_serial)]
    # the link's token expires within 3 days
    deadline = int(url.split("-")[-2], 36)
    assert 0 < deadline - timezone.now().timestamp() <= 3 * 86400
    # a second complaint about the same copy changes nothing more
    again = _deliver(_complaint("abuse"), verp)
    assert again.kind == "dropped" and OutboxItem.objects.count() == 1
    # the restore link's action, and the welcome back it mails
    assert membership_actions.restore(dora.pk) is True
    dora.refresh_from_db()
    assert dora.status == Membership.Status.ACTIVE
    back = OutboxItem.objects.latest("pk")
    assert [r["address"] for r in back.payload["recipients"]] == ["dora@example.org"]
    welcome = email.message_from_bytes(base64.b64decode(back.payload["message_b64"]),
                                       policy=email.policy.default)
    assert welcome["Subject"] == "[demo] Welcome back to Demo group"
    assert "Your membership of Demo group is restored" in welcome.get_content()
    assert membership_actions.restore(dora.pk) is False
    assert OutboxItem.objects.count() == 2  # once only


def test_auth_failure_report_removes_nobody(posted):
    dora = Membership.objects.get(email="dora@example.org")
    outcome = _deliver(_complaint("auth-failure"), _verp_of("demo", 1, "dora@example.org"))
    assert outcome.kind == "dropped" and "auth-failure" in outcome.reason
    dora.refresh_from_db()
    assert dora.status == Membership.Status.ACTIVE


# --- a report delivered twice is acted on once ---------------------------------------

def _restore_by_link(membership: Membership) -> None:
    """Press the restore link's button, as the member would."""
    from django.test import Client

    from groups import links

    membership.refresh_from_db()
    url = links.restore_membership_url(membership).removeprefix("http://testserver")
    assert Client().post(url).status_code == 200


@pytest.mark.parametrize("name", ["sisimai/lhost-postfix-02.eml",  # has a Message-ID
                                  "sisimai/lhost-powermta-01.eml"])  # has none: keyed on bytes
def test_a_redelivered_bounce_is_counted_once(posted, name):
    raw = (BOUNCES / name).read_bytes()
    assert bool(mailparse.parse(raw).message_id) is ("postfix" in name)
    dora = Membership.objects.get(email="dora@example.org")
    verp = _verp_of("demo", 1, "dora@example.org")
    assert _deliver(raw, verp).kind == "accepted"
    dora.refresh_from_db()
    score = dora.bounce_score
    again = _deliver(raw, verp)  # the MTA never saw our 250 and sends it again
    assert again.kind == "dropped" and "already counted" in again.reason
    dora.refresh_from_db()
    assert BounceEvent.objects.filter(membership=dora).count() == 1
    assert dora.bounce_score == score > 0
    # the same report about another member's copy is that member's own bounce
    bob_verp = _verp_of("demo", 1, "bob@example.org")
    assert _deliver(raw, bob_verp).kind == "accepted"
    assert BounceEvent.objects.filter(membership__email="bob@example.org").count() == 1
    # a new bounce (its own Message-ID) for the same member still counts
    fresh = b"Message-ID: <second-bounce@mx.example.net>\r\n" + re.sub(
        rb"(?im)^message-id:.*\r?\n", b"", raw, count=1)
    assert _deliver(fresh, verp).kind == "accepted"
    assert BounceEvent.objects.filter(membership=dora).count() == 2


def test_a_redelivered_complaint_does_not_remove_a_restored_member_again(posted):
    dora = Membership.objects.get(email="dora@example.org")
    verp = _verp_of("demo", 1, "dora@example.org")
    first = _complaint("abuse")
    assert _deliver(first, verp).kind == "accepted"
    _restore_by_link(dora)
    dora.refresh_from_db()
    assert dora.status == Membership.Status.ACTIVE
    queued = OutboxItem.objects.count()
    again = _deliver(first, verp)  # the same report, redelivered after the restore
    assert again.kind == "dropped" and "already acted on" in again.reason
    dora.refresh_from_db()
    assert dora.status == Membership.Status.ACTIVE and OutboxItem.objects.count() == queued
    # a report without a Message-ID is recognised by its bytes
    bare = (BOUNCES / "complaints" / "arf-11.eml").read_bytes()
    assert not mailparse.parse(bare).message_id
    assert _deliver(bare, verp).kind == "accepted"
    _restore_by_link(dora)
    assert _deliver(bare, verp).kind == "dropped"
    dora.refresh_from_db()
    assert dora.status == Membership.Status.ACTIVE
    # a new complaint is a new report: it removes her again
    assert _deliver((BOUNCES / "complaints" / "arf-24.eml").read_bytes(), verp).kind == (
        "accepted")
    dora.refresh_from_db()
    assert dora.status == Membership.Status.REMOVED
