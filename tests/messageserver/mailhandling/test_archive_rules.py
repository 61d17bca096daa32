"""Attachments on disk with per-group limits, hashtags and who they reach, topic auto-lock,
and Karl's delivery events feeding the same bounce record as parsed bounces."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from groups.models import (
    Attachment,
    BounceEvent,
    Group,
    Hashtag,
    HashtagPreference,
    Membership,
    Message,
    OutboxItem,
    Topic,
    TopicPreference,
)
from messageserver import archive, deliveryevents, pipeline, posts
from tests.conftest import mail
from tests.messageserver.mailhandling.helpers import built_jobs, fixture, job_for

T0 = datetime.fromisoformat("2026-05-01T09:00:00+00:00")


def _inbound(raw: bytes, sender: str = "bob@example.org", now: datetime | None = None):
    [(_, outcome)] = pipeline.handle_inbound(sender, ["demo@groups.localhost"], raw, now=now)
    return outcome


def test_attachments_are_files_under_attachments_dir(demo_group):
    outcome = _inbound(fixture("with_attachment.eml"))
    assert outcome.kind == "accepted"
    message = Message.objects.get(number=outcome.number)
    atts = {a.filename: a for a in Attachment.objects.filter(message=message)}
    assert set(atts) == {"agenda.pdf", "room.png"}  # the ../ of a hostile name is gone
    root = Path(settings.ATTACHMENTS_DIR).resolve()
    for att in atts.values():
        path = (root / att.path).resolve()
        assert root in path.parents and path.stat().st_size == att.size
    assert (root / atts["agenda.pdf"].path).read_bytes().startswith(b"%PDF-1.4")
    assert atts["room.png"].content_type == "image/png"
    assert "agenda is attached" in message.body_text


@pytest.mark.parametrize(("limits", "refusal"), [
    ({"allowed_attachment_types": "image/, text/plain"}, "application/pdf"),
    ({"max_attachment_size": 100}, "agenda.pdf"),
])
def test_group_limits_refuse_with_a_reason(demo_group, limits, refusal):
    Group.objects.filter(pk=demo_group.pk).update(**limits)
    outcome = _inbound(fixture("with_attachment.eml"))
    assert outcome.kind == "rejected" and outcome.status == "5.7.1"
    assert refusal in outcome.reason
    assert not Message.objects.exists() and not any(Path(settings.ATTACHMENTS_DIR).glob(
        "demo/*/*"))


def test_allowed_types_by_prefix_accept(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(
        allowed_attachment_types="image/, application/pdf")
    assert _inbound(fixture("with_attachment.eml")).kind == "accepted"


def _post(group, subject: str, sender: str = "bob@example.org", now=None) -> int:
    raw = posts.compose(group, sender, "", subject, "text")
    outcome = _inbound(raw, sender, now)
    assert outcome.kind == "accepted", outcome
    return outcome.number


def _recipients(number: int) -> list[str]:
    built_jobs()
    items = [o for o in OutboxItem.objects.filter(kind="job")
             if o.payload.get("meta", {}).get("number") == number
             and o.payload["meta"].get("kind") == "post"]
    return sorted(r["address"] for o in items for r in o.payload["recipients"])


def test_hashtags_are_recorded_on_the_topic(demo_group):
    number = _post(demo_group, "Lunch #Food #events and #food again")
    topic = Message.objects.get(number=number).topic
    assert sorted(t.name for t in topic.hashtags.all()) == ["Food", "events"]


def test_no_email_hashtag_is_archived_not_sent(demo_group):
    Hashtag.objects.create(group=demo_group, name="log", no_email=True)
    number = _post(demo_group, "Nightly build #log")
    assert Message.objects.filter(number=number).exists() and _recipients(number) == []


def test_special_notice_reaches_special_notices_members(demo_group):
    Hashtag.objects.create(group=demo_group, name="notice", special_notice=True)
    Membership.objects.filter(email="dora@example.org").update(
        delivery=Membership.Delivery.SPECIAL)
    assert "dora@example.org" not in _recipients(_post(demo_group, "Ordinary news"))
    assert "dora@example.org" in _recipients(_post(demo_group, "Server move #notice"))


def test_muted_topic_and_hashtag_get_no_email(demo_group):
    dora = Membership.objects.get(email="dora@example.org")
    first = _post(demo_group, "Bikeshed colours")
    TopicPreference.objects.create(membership=dora, topic=Message.objects.get(
        number=first).topic, mode="mute")
    assert "dora@example.org" not in _recipients(_post(demo_group, "Re: Bikeshed colours"))
    tag = Hashtag.objects.create(group=demo_group, name="chatter")
    HashtagPreference.objects.create(membership=dora, hashtag=tag, mode="mute")
    assert "dora@example.org" not in _recipients(_post(demo_group, "Weekend? #chatter"))
    assert "dora@example.org" in _recipients(_post(demo_group, "Release 2.0"))


def test_followed_only_selection(demo_group):
    dora = Membership.objects.get(email="dora@example.org")
    Membership.objects.filter(pk=dora.pk).update(
        message_selection=Membership.Selection.FOLLOWED_AND_FIRST)
    first = _post(demo_group, "Plans for June")
    assert "dora@example.org" in _recipients(first)  # the first message of a new topic
    assert "dora@example.org" not in _recipients(_post(demo_group, "Re: Plans for June"))
    TopicPreference.objects.create(membership=dora, topic=Message.objects.get(
        number=first).topic, mode="follow")
    assert "dora@example.org" in _recipients(_post(demo_group, "Re: Plans for June"))


def test_lock_inactive_topics(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(auto_lock_days=10)
    other = Group.objects.create(name="other")  # auto_lock_days=0: never
    old = Message.objects.get(number=_post(demo_group, "Old news", now=T0)).topic
    sticky = Message.objects.get(number=_post(demo_group, "House rules", now=T0)).topic
    Topic.objects.filter(pk=sticky.pk).update(sticky=True)
    fresh = Message.objects.get(number=_post(demo_group, "New news",
                                             now=T0 + timedelta(days=9))).topic
    Topic.objects.create(group=other, subject="x", normalized_subject="x", last_post_at=T0)
    now = T0 + timedelta(days=10, hours=1)
    assert archive.lock_inactive_topics(now) == 1
    assert archive.lock_inactive_topics(now) == 0  # idempotent
    assert set(Topic.objects.filter(locked=True).values_list("pk", flat=True)) == {old.pk}
    # a reply to the locked topic is refused; a moderator may still answer
    reply = posts.compose(demo_group, "bob@example.org", "", "Re: Old news", "late")
    outcome = _inbound(reply, now=now)
    assert outcome.kind == "rejected" and "locked" in outcome.reason
    reply = posts.compose(demo_group, "alice@example.org", "", "Re: Old news", "closing")
    assert _inbound(reply, "alice@example.org", now=now).kind == "accepted"
    assert not Topic.objects.get(pk=fresh.pk).locked


def test_karl_delivery_events_feed_the_bounce_record(demo_group):
    outcome = _inbound(mail("member_post.eml"))
    job_for("demo", outcome.number)
    stored = deliveryevents.record([
        {"state": "bounced", "address": "Dora@Example.org", "code": 550,
         "reply": "550 5.1.1 <dora@example.org>: Recipient address rejected: User unknown",
         "meta": {"group": "demo", "number": outcome.number}, "at": "2026-11-23T12:00:00Z"},
        {"state": "expired", "address": "bob@example.org", "reply": "",
         "meta": {"group": "demo", "number": outcome.number}},
        {"state": "sent", "address": "alice@example.org", "meta": {"group": "demo"}},
        {"state": "bounced", "address": "stranger@example.org", "meta": {"group": "demo"}},
    ])
    assert stored == 2
    dora = BounceEvent.objects.get(membership__email="dora@example.org")
    assert (dora.kind, dora.status, dora.source) == ("hard", "5.1.1", "karl")
    bob = BounceEvent.objects.get(membership__email="bob@example.org")
    assert bob.kind == "soft"
    assert Membership.objects.get(email="dora@example.org").bounce_score == 1.0
