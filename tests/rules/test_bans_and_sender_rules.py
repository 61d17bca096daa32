"""Bans and non-member sender rules, through the real pipeline (what smtpd calls).

A ban (address, glob or regular expression) refuses posts and joins, member or
not; a sender rule accepts, holds, rejects with its reason or silently discards
a non-member's post, before the group's non-member setting applies.
"""

from __future__ import annotations

import pytest

from groups.models import BanRule, Group, HeldMessage, Membership, Message, SenderRule
from messageserver import membership_actions as actions
from platformcore import addresspatterns as ap
from tests.rules.conftest import DOMAIN, deliver, last_outbox_id, queued, simple_mail

TO = f"demo@{DOMAIN}"


def post(sender: str, subject: str = "hello"):
    return deliver(sender, TO, simple_mail(sender, TO, subject, "a post\n"))


@pytest.mark.parametrize("pattern,address,hit", [
    ("spammer@example.net", "Spammer@Example.net", True),
    ("spammer@example.net", "other@example.net", False),
    ("*@spam.example", "anyone@spam.example", True),
    ("*@spam.example", "anyone@notspam.example", False),
    (r"^.*\+promo@.*$", "a+promo@example.org", True),
    (r"^.*\+promo@.*$", "a@example.org", False),
])
def test_patterns(pattern, address, hit):
    assert ap.matches(ap.check(pattern), address) is hit


@pytest.mark.parametrize("bad", ["", "no spaces allowed@x", "nodomain", "^(unclosed"])
def test_bad_patterns_are_refused_with_a_reason(bad):
    with pytest.raises(ap.BadPattern):
        ap.check(bad)


def test_a_banned_pattern_is_refused_with_the_reason_member_or_not(demo_group):
    BanRule.objects.create(group=demo_group, pattern="*@spam.example", reason="bulk mail")
    outcome = post("someone@spam.example")
    assert outcome.kind == "rejected"
    assert "banned" in outcome.reason and "bulk mail" in outcome.reason
    Membership.objects.create(group=demo_group, email="member@spam.example")
    assert post("member@spam.example").kind == "rejected"
    assert not Message.objects.exists()
    # owners and moderators are never locked out by their own pattern
    BanRule.objects.create(group=demo_group, pattern=r"^alice@.*$")
    assert post("alice@example.org").kind == "accepted"


def test_a_ban_wins_over_an_accept_rule(demo_group):
    BanRule.objects.create(group=demo_group, pattern="*@spam.example")
    SenderRule.objects.create(group=demo_group, pattern="friend@spam.example",
                              action=SenderRule.Action.ACCEPT)
    assert post("friend@spam.example").kind == "rejected"


def test_sender_rules_for_non_members(demo_group):
    A = SenderRule.Action
    Group.objects.filter(pk=demo_group.pk).update(nonmember_policy="reject")
    SenderRule.objects.create(group=demo_group, pattern="friend@example.net", action=A.ACCEPT)
    SenderRule.objects.create(group=demo_group, pattern="*@vendor.example", action=A.HOLD)
    SenderRule.objects.create(group=demo_group, pattern="pest@example.net", action=A.REJECT,
                              reason="Please use the web form.")
    SenderRule.objects.create(group=demo_group, pattern="^noise.*@example\\.net$",
                              action=A.DISCARD)
    accepted = post("friend@example.net", "from a friend")
    assert accepted.kind == "accepted"
    message = Message.objects.get(number=accepted.number)
    assert message.nonmember and message.sender_email == "friend@example.net"

    held = post("sales@vendor.example")
    assert held.kind == "held"
    assert HeldMessage.objects.get(pk=held.held_id).nonmember

    rejected = post("pest@example.net")
    assert (rejected.kind, rejected.reason) == ("rejected", "Please use the web form.")

    since = last_outbox_id()
    dropped = post("noise1@example.net")
    assert dropped.kind == "dropped"  # taken, nobody told, nothing kept
    assert queued(since=since) == []
    assert Message.objects.count() == 1 and HeldMessage.objects.count() == 1

    # no rule: the group's own setting
    assert post("stranger@example.net").kind == "rejected"


def test_sender_rules_do_not_apply_to_members(demo_group):
    SenderRule.objects.create(group=demo_group, pattern="bob@example.org",
                              action=SenderRule.Action.DISCARD)
    assert post("bob@example.org").kind == "accepted"


def test_joins_from_banned_patterns_are_refused(demo_group):
    BanRule.objects.create(group=demo_group, pattern="*@spam.example")
    outcome = deliver("x@spam.example", f"demo+subscribe@{DOMAIN}",
                      simple_mail("x@spam.example", f"demo+subscribe@{DOMAIN}"))
    assert outcome.reason.startswith("subscribe refused")
    [answer] = queued("x@spam.example")
    assert "may not join" in answer.get_body(("plain",)).get_content()
    assert not Membership.objects.filter(email="x@spam.example").exclude(
        status=Membership.Status.UNSUBSCRIBED).exists()
    # every way in is closed, an invitation's link or an approval included
    m = Membership.objects.create(group=demo_group, email="y@spam.example",
                                  status=Membership.Status.INVITED)
    assert actions.confirm(m) == ""
    assert actions.join_route(demo_group, None, "z@spam.example") == actions.BANNED
