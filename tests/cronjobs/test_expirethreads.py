"""expirethreads: hashtag expiry (lock or delete) and the group's auto-lock, over simulated days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronjobs.expirethreads import expire_threads
from groups.models import Attachment, Group, Hashtag, Message, RawMessage, Topic
from messageserver import pipeline, posts
from tests.cronjobs.conftest import post

DAY0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def topic_of(number: int) -> Topic:
    return Message.objects.get(number=number).topic


def test_hashtag_expiry_locks_or_deletes_inactive_topics(demo_group, settings,
                                                        django_capture_on_commit_callbacks):
    bike = post(demo_group, "bob@example.org", "Bike #forsale", "Barely used.\n", DAY0)
    party = post(demo_group, "dora@example.org", "Party tonight #event", "Bring snacks\n", DAY0)
    # an attachment, to see its file go with the deleted topic
    raw = posts.compose(demo_group, "dora@example.org", "", "Re: Party tonight #event",
                        "the map", reply_to=Message.objects.get(number=party),
                        attachments=[("map.txt", "text/plain", b"turn left")])
    pipeline.handle_inbound("dora@example.org", ["demo@groups.localhost"], raw,
                            now=DAY0 + timedelta(hours=1))
    [att] = Attachment.objects.all()
    att_file = settings.ATTACHMENTS_DIR / att.path
    assert att_file.exists()
    plain = post(demo_group, "bob@example.org", "Ordinary chat", "hi\n", DAY0)
    Hashtag.objects.filter(name="forsale").update(expires_days=14)
    Hashtag.objects.filter(name="event").update(expires_days=2, expire_action="delete")

    # a reply on day 10 keeps the bike open longer
    post(demo_group, "alice@example.org", "Re: Bike #forsale", "Still available?\n",
         DAY0 + timedelta(days=10))
    party_topic = topic_of(party).id
    with django_capture_on_commit_callbacks(execute=True):  # files go after the commit
        report = expire_threads(DAY0 + timedelta(days=3))
    assert report.deleted == [party_topic]
    assert not Topic.objects.filter(subject__startswith="Party").exists()
    assert not RawMessage.objects.filter(message__subject__contains="Party").exists()
    assert not att_file.exists()
    assert not topic_of(bike).locked
    assert expire_threads(DAY0 + timedelta(days=15)).locked == []  # 5 days since the reply
    report = expire_threads(DAY0 + timedelta(days=24, hours=1))
    assert report.locked == [topic_of(bike).id] and topic_of(bike).locked
    assert not topic_of(plain).locked  # no expiring hashtag, no auto-lock
    # idempotent
    again = expire_threads(DAY0 + timedelta(days=24, hours=2))
    assert (again.locked, again.deleted, again.auto_locked) == ([], [], 0)
    # a locked topic refuses replies (the posting policy reads the same flag)
    raw = posts.compose(demo_group, "bob@example.org", "", "Re: Bike #forsale", "sold?",
                        reply_to=Message.objects.get(number=bike))
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"], raw,
                                             now=DAY0 + timedelta(days=25))
    assert outcome.kind == "rejected" and "locked" in outcome.reason


def test_group_auto_lock_spares_sticky_topics(demo_group):
    quiet = post(demo_group, "bob@example.org", "Quiet topic", "...\n", DAY0)
    pinned = post(demo_group, "alice@example.org", "Read me first", "rules\n", DAY0)
    busy = post(demo_group, "dora@example.org", "Busy topic", "...\n", DAY0 + timedelta(days=25))
    Topic.objects.filter(pk=topic_of(pinned).id).update(sticky=True)
    Group.objects.filter(pk=demo_group.pk).update(auto_lock_days=30)
    assert expire_threads(DAY0 + timedelta(days=29)).auto_locked == 0
    assert expire_threads(DAY0 + timedelta(days=31)).auto_locked == 1
    assert [topic_of(n).locked for n in (quiet, pinned, busy)] == [True, False, False]
