"""Moderation by reply, by link, and held messages expiring: each outcome and its notices."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import HeldMessage, Membership, Message, OutboxItem
from messageserver import moderation
from messageserver.modreply import reply_reason
from tests.conftest import built_jobs, mail
from tests.messageserver.rules.conftest import (
    DOMAIN,
    address_in,
    body,
    deliver,
    last_outbox_id,
    queued,
    rules_mail,
    simple_mail,
)


@pytest.fixture
def held(demo_group):
    """bob's posts are moderated; his first post waits, alice has the notice."""
    Membership.objects.filter(email="bob@example.org").update(posting_status="moderated")
    outcome = deliver("bob@example.org", f"demo@{DOMAIN}", mail("member_post.eml"))
    assert outcome.kind == "held"
    return HeldMessage.objects.get(pk=outcome.held_id)


def _moderator_notice():
    [notice] = queued("alice@example.org")
    return notice


def _fanout_jobs():
    built_jobs()
    return [o.payload for o in OutboxItem.objects.all() if o.payload["meta"]["kind"] == "post"]


def test_held_notice_carries_signed_reply_addresses_and_the_message(held):
    notice = _moderator_notice()
    approve = address_in(notice["Reply-To"])
    assert approve.startswith("demo+approve+") and approve.endswith("@" + DOMAIN)
    assert approve.replace("+approve+", "+reject+") in body(notice)
    [attached] = list(notice.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    [poster] = queued("bob@example.org")
    assert "awaiting approval" in poster["Subject"]


def test_moderator_reply_approves_and_the_message_goes_out(held):
    approve = address_in(_moderator_notice()["Reply-To"])
    outcome = deliver("alice@example.org", approve,
                      rules_mail("moderator_approve_reply.eml", to=approve))
    assert outcome.kind == "accepted"
    held.refresh_from_db()
    assert held.state == "approved" and held.decided_by == "alice@example.org"
    message = Message.objects.get(group=held.group)
    assert message.subject == "Hello everyone #intro"
    [job] = _fanout_jobs()
    assert sorted(r["address"] for r in job["recipients"]) == [
        "alice@example.org", "bob@example.org", "dora@example.org"]
    assert Membership.objects.get(email="bob@example.org").approved_posts == 1


def test_moderator_reply_rejects_with_the_reply_as_reason(held):
    reject = address_in(_moderator_notice()["Reply-To"]).replace("+approve+", "+reject+")
    mark = last_outbox_id()
    outcome = deliver("alice@example.org", reject,
                      rules_mail("moderator_reject_reply.eml", to=reject))
    assert outcome.kind == "accepted"
    held.refresh_from_db()
    assert held.state == "rejected"
    assert held.decision_reason == ("Please introduce yourself on the web form first.\n"
                                    "We keep introductions in one topic.")
    [notice] = queued("bob@example.org", mark)
    text = body(notice)
    assert "We keep introductions in one topic." in text
    assert "waiting for a moderator" not in text and "Alice, owner" not in text
    assert not Message.objects.exists() and not _fanout_jobs()


def test_bad_token_is_answered_and_changes_nothing(held):
    approve = address_in(_moderator_notice()["Reply-To"])
    forged = approve.replace("+approve+", "+approve+9").replace("@", "0@")
    mark = last_outbox_id()
    outcome = deliver("alice@example.org", forged,
                      rules_mail("moderator_approve_reply.eml", to=forged))
    assert outcome.kind == "accepted"
    [answer] = queued("alice@example.org", mark)
    assert "not valid" in body(answer) and answer["Auto-Submitted"] == "auto-replied"
    held.refresh_from_db()
    assert held.state == "pending"


def test_only_owners_and_moderators_may_decide(held):
    approve = address_in(_moderator_notice()["Reply-To"])
    mark = last_outbox_id()
    deliver("dora@example.org", approve, simple_mail("dora@example.org", approve, "Re: ok"))
    [answer] = queued("dora@example.org", mark)
    assert "not an owner or moderator" in body(answer)
    held.refresh_from_db()
    assert held.state == "pending"
    Membership.objects.filter(email="dora@example.org").update(role="moderator")
    deliver("dora@example.org", approve, simple_mail("dora@example.org", approve, "Re: ok"))
    held.refresh_from_db()
    assert held.state == "approved" and held.decided_by == "dora@example.org"


def test_second_decision_is_answered_not_applied(held):
    approve = address_in(_moderator_notice()["Reply-To"])
    moderation.decide(held.id, "reject", "alice@example.org", "off topic")  # by link first
    mark = last_outbox_id()
    deliver("alice@example.org", approve, rules_mail("moderator_approve_reply.eml", to=approve))
    [answer] = queued("alice@example.org", mark)
    assert "already rejected" in body(answer)
    assert not Message.objects.exists()


def test_moderators_vacation_reply_does_not_approve(held):
    notice = _moderator_notice()
    approve = address_in(notice["Reply-To"])
    raw = rules_mail("vacation_reply.eml", to=approve, subject=notice["Subject"],
                     msgid="vac-1", in_reply_to=notice["Message-ID"]).replace(
        b"dora@example.org", b"alice@example.org")
    assert deliver("alice@example.org", approve, raw).kind == "dropped"
    held.refresh_from_db()
    assert held.state == "pending"


def test_approve_by_link_goes_out_like_a_new_post(held):
    outcome = moderation.decide(held.id, "approve", "alice@example.org")
    assert outcome.kind == "accepted" and outcome.number == 1
    assert len(_fanout_jobs()) == 1


def test_held_message_survives_a_fresh_read_and_is_approved_by_reply(held):
    """What a restart leaves: only the database row. Decide from a re-read row and a new
    token made from the id alone (what a freshly started process would do)."""
    from django.db import connection

    held_id = held.id
    del held
    connection.close()  # the next query opens a new connection
    row = HeldMessage.objects.get(pk=held_id)
    assert row.state == "pending" and bytes(row.raw) == mail("member_post.eml")
    from messageserver.notices import moderation_addresses

    approve = moderation_addresses(row)["approve_address"]
    assert deliver("alice@example.org", approve,
                   rules_mail("moderator_approve_reply.eml", to=approve)).kind == "accepted"
    assert Message.objects.get().subject == "Hello everyone #intro"


def test_expiry_tells_the_poster_once(held):
    mark = last_outbox_id()
    assert moderation.expire_due(timezone.now() + timedelta(days=13)) == 0
    assert moderation.expire_due(timezone.now() + timedelta(days=15)) == 1
    assert moderation.expire_due(timezone.now() + timedelta(days=16)) == 0
    held.refresh_from_db()
    assert held.state == "expired"
    [notice] = queued("bob@example.org", mark)
    assert "expired" in notice["Subject"] and notice["Auto-Submitted"] == "auto-generated"
    assert len(queued(since=mark)) == 1


def test_expiry_follows_the_group_setting(demo_group):
    demo_group.moderation_expiry_days = 2
    demo_group.save()
    Membership.objects.filter(email="bob@example.org").update(posting_status="moderated")
    deliver("bob@example.org", f"demo@{DOMAIN}", mail("member_post.eml"))
    assert moderation.expire_due(timezone.now() + timedelta(days=3)) == 1


def test_reply_reason_strips_quotes_and_signatures():
    assert reply_reason("No ads here.\n\n> quoted\n") == "No ads here."
    assert reply_reason("Spam.\n-- \nsig\n") == "Spam."
    assert reply_reason("\n\nOff topic\n-----Original Message-----\nFrom: x") == "Off topic"
    assert reply_reason("".join(f"line {i}\n" for i in range(30))).count("\n") == 9
    assert reply_reason("> all quoted\n") == ""
