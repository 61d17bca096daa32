"""Every posting policy and member posting status gives the same outcome by email and web.

The email path is the pipeline (what smtpd calls); the web path is POST /v1/posts on
messageserver's own API, called with the internal token through Django's test client.
"""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from groups.models import Group, HeldMessage, Membership, Message, Topic
from tests.messageserver.rules.conftest import DOMAIN, deliver, simple_mail

pytestmark = pytest.mark.urls("messageserver.urls")
_n = itertools.count()


def by_email(sender: str, subject: str, headers: dict[str, str] | None = None) -> str:
    to = f"demo@{DOMAIN}"
    return deliver(sender, to, simple_mail(sender, to, subject, "a post\n", headers)).kind


def by_web(sender: str, subject: str, reply_to_number: int | None = None) -> str:
    payload = {"group": "demo", "sender_email": sender, "subject": subject, "text": "a post"}
    if reply_to_number is not None:
        payload["reply_to_number"] = reply_to_number
    response = Client().post("/v1/posts", payload, content_type="application/json",
                             headers={"Authorization": "Bearer test-internal-token"})
    assert response.status_code in (200, 403), response.content
    outcome = response.json()["outcome"]
    assert (response.status_code == 403) == (outcome == "rejected")
    return outcome


CASES = [
    # group posting policy, nonmember policy, poster, member status, posting status, expected
    ("members", "reject", "bob", "active", "default", "accepted"),
    ("moderated", "reject", "bob", "active", "default", "held"),
    ("new_moderated", "reject", "bob", "active", "default", "held"),
    ("announce", "reject", "bob", "active", "default", "rejected"),
    ("announce", "reject", "alice", "active", "default", "accepted"),
    ("moderated", "reject", "alice", "active", "default", "accepted"),
    ("members", "reject", "bob", "active", "moderated", "held"),
    ("members", "reject", "bob", "active", "new_moderated", "held"),
    ("members", "reject", "bob", "active", "not_allowed", "rejected"),
    ("moderated", "reject", "bob", "active", "override", "accepted"),
    ("announce", "reject", "bob", "active", "override", "accepted"),
    ("members", "reject", "bob", "banned", "default", "rejected"),
    ("members", "hold", "bob", "banned", "default", "rejected"),
    ("members", "reject", "bob", "unsubscribed", "default", "rejected"),
    ("members", "reject", "charlie", None, None, "rejected"),
    ("members", "hold", "charlie", None, None, "held"),
    ("moderated", "hold", "charlie", None, None, "held"),
]


@pytest.mark.parametrize("policy,nonmember,who,status,posting,expected", CASES)
def test_same_outcome_by_email_and_web(demo_group, policy, nonmember, who, status, posting,
                                       expected):
    Group.objects.filter(pk=demo_group.pk).update(posting_policy=policy,
                                                 nonmember_policy=nonmember)
    sender = {"alice": "alice@example.org", "bob": "bob@example.org",
              "charlie": "charlie@example.net"}[who]
    if status is not None:
        Membership.objects.filter(email=sender).update(status=status, posting_status=posting)
    email_kind = by_email(sender, f"email post {next(_n)}")
    web_kind = by_web(sender, f"web post {next(_n)}")
    assert (email_kind, web_kind) == (expected, expected)
    if expected == "held":
        held = list(HeldMessage.objects.order_by("id"))
        assert [h.source for h in held] == ["email", "web"]
        assert all(h.nonmember == (status is None) for h in held)
    if expected == "accepted":
        assert sorted(Message.objects.values_list("source", flat=True)) == ["email", "web"]


def test_new_member_posts_freely_after_enough_approvals(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(posting_policy="new_moderated",
                                                 new_member_posts_moderated=2)
    Membership.objects.filter(email="bob@example.org").update(approved_posts=1)
    assert (by_email("bob@example.org", "one"), by_web("bob@example.org", "two")) == (
        "held", "held")
    Membership.objects.filter(email="bob@example.org").update(approved_posts=2)
    assert (by_email("bob@example.org", "three"), by_web("bob@example.org", "four")) == (
        "accepted", "accepted")


def test_locked_topic_refuses_replies_on_both_paths(demo_group):
    assert by_email("alice@example.org", "A locked topic") == "accepted"
    first = Message.objects.get()
    Topic.objects.filter(pk=first.topic_id).update(locked=True)
    email_kind = by_email("bob@example.org", "Re: A locked topic",
                          {"In-Reply-To": first.message_id, "References": first.message_id})
    web_kind = by_web("bob@example.org", "", reply_to_number=first.number)
    assert (email_kind, web_kind) == ("rejected", "rejected")
    # moderators may still reply
    assert by_web("alice@example.org", "", reply_to_number=first.number) == "accepted"


def test_a_suspended_group_refuses_every_post_on_both_paths(demo_group):
    """A site admin's suspension wins over everything, owners included (5.7.1, a reason)."""
    Group.objects.filter(pk=demo_group.pk).update(suspended=True)
    to = f"demo@{DOMAIN}"
    for sender in ("alice@example.org", "bob@example.org"):
        outcome = deliver(sender, to, simple_mail(sender, to, "During the suspension"))
        assert (outcome.kind, outcome.status) == ("rejected", "5.7.1")
        assert "demo is suspended by the site's administrators" in outcome.reason
        assert by_web(sender, "On the web") == "rejected"
    assert not Message.objects.exists() and not HeldMessage.objects.exists()
    Group.objects.filter(pk=demo_group.pk).update(suspended=False)
    assert by_email("bob@example.org", "After") == "accepted"


def test_a_post_held_before_the_suspension_is_not_approved_during_it(demo_group):
    from messageserver import moderation

    Group.objects.filter(pk=demo_group.pk).update(posting_policy="moderated")
    assert by_email("bob@example.org", "Held first") == "held"
    held = HeldMessage.objects.get()
    Group.objects.filter(pk=demo_group.pk).update(suspended=True)
    with pytest.raises(moderation.ModerationError, match="demo is suspended"):
        moderation.decide(held.pk, "approve", "alice@example.org")
    held.refresh_from_db()
    assert held.state == "pending" and not Message.objects.exists()
    Group.objects.filter(pk=demo_group.pk).update(suspended=False)
    moderation.decide(held.pk, "approve", "alice@example.org")
    assert Message.objects.filter(subject="Held first").exists()
