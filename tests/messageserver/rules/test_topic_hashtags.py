"""#17 item 4: a topic's hashtags apply to its replies, even when a reply's subject drops
the tag (as on Groups.io, where a hashtag tags the whole topic).

Every post goes through ``pipeline.handle_inbound``; a reply names its parent by
In-Reply-To/References (``posts.compose(reply_to=...)``), its subject without the tag.
Who gets a copy is read from the fan-out jobs in the outbox.
"""

from __future__ import annotations

import pytest

from groups.models import (
    Group,
    Hashtag,
    HashtagPreference,
    HeldMessage,
    Membership,
    Message,
    OutboxItem,
)
from messageserver import moderation, pipeline, posts
from tests.conftest import built_jobs

ALICE, BOB, DORA = "alice@example.org", "bob@example.org", "dora@example.org"


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _send(group: Group, sender: str, subject: str, reply_to: Message | None = None):
    raw = posts.compose(group, sender, "", subject, "text\n", reply_to=reply_to)
    [(_, outcome)] = pipeline.handle_inbound(sender, [group.post_address], raw)
    return outcome


def _topic_start(group: Group, sender: str, subject: str) -> Message:
    outcome = _send(group, sender, subject)
    assert outcome.kind == "accepted", outcome
    return Message.objects.get(group=group, number=outcome.number)


def _recipients(number: int) -> set[str]:
    built_jobs()
    return {r["address"] for o in OutboxItem.objects.filter(kind="job")
            if o.payload.get("meta", {}).get("kind") == "post"
            and o.payload["meta"].get("number") == number
            for r in o.payload["recipients"]}


def test_reply_without_the_tag_to_a_moderated_hashtag_topic_is_held(demo_group):
    Hashtag.objects.create(group=demo_group, name="board", moderated=True)
    first = _topic_start(demo_group, ALICE, "Minutes of May #board")  # an owner: not held
    outcome = _send(demo_group, BOB, "Re: Minutes of May", reply_to=first)
    assert outcome.kind == "held" and "#board" in outcome.reason
    held = HeldMessage.objects.get(pk=outcome.held_id)
    assert held.subject == "Re: Minutes of May"
    assert not Message.objects.filter(group=demo_group, subject="Re: Minutes of May").exists()
    # approved, it joins the tagged topic
    assert moderation.decide(held.id, "approve", ALICE).kind == "accepted"
    reply = Message.objects.get(group=demo_group, subject="Re: Minutes of May")
    assert reply.topic_id == first.topic_id
    # a reply in an untagged topic is not held
    other = _topic_start(demo_group, ALICE, "Picnic")
    assert _send(demo_group, BOB, "Re: Picnic", reply_to=other).kind == "accepted"


def test_replies_by_moderators_only_refuses_a_members_reply_without_the_tag(demo_group):
    Hashtag.objects.create(group=demo_group, name="announce", moderators_only=True,
                           replies_moderators_only=True)
    first = _topic_start(demo_group, ALICE, "Server move on Sunday #announce")
    outcome = _send(demo_group, BOB, "Re: Server move on Sunday", reply_to=first)
    assert outcome.kind == "rejected"
    assert outcome.reason == "only moderators may reply to topics tagged #announce"
    assert Message.objects.filter(group=demo_group).count() == 1
    # the owner (a moderator) replies as usual
    assert _send(demo_group, ALICE, "Re: Server move on Sunday", reply_to=first).kind == (
        "accepted")


def test_use_by_moderators_only_keeps_members_from_tagging_but_not_from_replying(demo_group):
    """Groups.io's pair: "use by mods only" alone lets members reply in the topic."""
    Hashtag.objects.create(group=demo_group, name="news", moderators_only=True)
    refused = _send(demo_group, BOB, "My own news #news")
    assert refused.kind == "rejected" and refused.reason == (
        "only moderators may post with #news")
    first = _topic_start(demo_group, ALICE, "Release 2.0 #news")
    for subject in ("Re: Release 2.0", "Re: Release 2.0 #news"):
        assert _send(demo_group, BOB, subject, reply_to=first).kind == "accepted", subject
    # a member's reply may not add the tag to a topic that lacks it
    untagged = _topic_start(demo_group, ALICE, "Coffee")
    outcome = _send(demo_group, BOB, "Re: Coffee #news", reply_to=untagged)
    assert outcome.kind == "rejected" and "#news" in outcome.reason
    assert not untagged.topic.hashtags.exists()


def test_member_who_muted_the_hashtag_gets_no_copy_of_a_reply_without_it(demo_group):
    tag = Hashtag.objects.create(group=demo_group, name="chatter")
    HashtagPreference.objects.create(
        membership=Membership.objects.get(group=demo_group, email=DORA), hashtag=tag,
        mode="mute")
    first = _topic_start(demo_group, ALICE, "Weekend plans? #chatter")
    assert DORA not in _recipients(first.number)
    outcome = _send(demo_group, BOB, "Re: Weekend plans?", reply_to=first)
    assert outcome.kind == "accepted"
    assert DORA not in _recipients(outcome.number) and ALICE in _recipients(outcome.number)
    # in another topic Dora gets her copy
    other = _send(demo_group, BOB, "Release notes")
    assert DORA in _recipients(other.number)


def test_followed_hashtag_brings_replies_without_it(demo_group):
    tag = Hashtag.objects.create(group=demo_group, name="gear")
    dora = Membership.objects.get(group=demo_group, email=DORA)
    Membership.objects.filter(pk=dora.pk).update(
        message_selection=Membership.Selection.FOLLOWED)
    HashtagPreference.objects.create(membership=dora, hashtag=tag, mode="follow")
    first = _topic_start(demo_group, ALICE, "New tent #gear")
    outcome = _send(demo_group, BOB, "Re: New tent", reply_to=first)
    assert DORA in _recipients(outcome.number)


def test_no_email_hashtag_keeps_replies_without_it_off_the_mail(demo_group):
    Hashtag.objects.create(group=demo_group, name="log", no_email=True)
    first = _topic_start(demo_group, ALICE, "Nightly build #log")
    outcome = _send(demo_group, BOB, "Re: Nightly build", reply_to=first)
    assert outcome.kind == "accepted" and _recipients(outcome.number) == set()
    assert Message.objects.filter(group=demo_group, number=outcome.number).exists()
