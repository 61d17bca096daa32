"""A post from any verified address of a member's account counts as that member.

The rule is groups.accountemails.membership_for_address, called by
posts.find_membership for posts and commands alike; an unverified address
counts for nothing (anyone can type an address into a form).
"""

from __future__ import annotations

from groups.models import Membership, Message, User, UserEmail
from messageserver import membership_actions, pipeline
from tests.conftest import mail


def _from(address: str, message_id: str) -> bytes:
    return (mail("member_post.eml")
            .replace(b"From: Bob Member <bob@example.org>", f"From: Bob <{address}>".encode())
            .replace(b"<first-post@example.org>", f"<{message_id}@example.org>".encode()))


def _bob_with_addresses() -> User:
    bob = User.objects.create_user(username="bob", email="bob@example.org", password="x" * 12,
                                   display_name="Bob", email_confirmed=True)
    Membership.objects.filter(email="bob@example.org").update(user=bob)
    UserEmail.objects.create(user=bob, email="bob@home.example", verified=True)
    UserEmail.objects.create(user=bob, email="bob@unverified.example", verified=False)
    return bob


def test_a_post_from_a_verified_further_address_is_the_members(demo_group):
    _bob_with_addresses()
    [(_, outcome)] = pipeline.handle_inbound("bob@home.example", ["demo@groups.localhost"],
                                             _from("Bob@Home.example", "home"))
    assert outcome.kind == "accepted", outcome
    message = Message.objects.get(group=demo_group, number=outcome.number)
    assert message.membership.email == "bob@example.org" and not message.nonmember


def test_a_post_from_an_unverified_address_is_a_non_members(demo_group):
    _bob_with_addresses()
    [(_, outcome)] = pipeline.handle_inbound(
        "bob@unverified.example", ["demo@groups.localhost"],
        _from("bob@unverified.example", "unverified"))
    assert outcome.kind == "rejected"  # the demo group refuses non-members
    assert not Message.objects.filter(group=demo_group).exists()


def test_the_member_who_receives_at_a_further_address_still_posts_from_the_primary(demo_group):
    bob = _bob_with_addresses()
    m = Membership.objects.get(group=demo_group, user=bob)
    membership_actions.set_address(m, "bob@home.example", actor="bob@example.org")
    assert Membership.objects.get(pk=m.pk).email == "bob@home.example"
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             _from("bob@example.org", "primary"))
    assert outcome.kind == "accepted"
    assert Message.objects.get(number=outcome.number).membership_id == m.pk


def test_a_ban_on_the_addresss_own_row_holds(demo_group):
    bob = _bob_with_addresses()
    banned = Membership.objects.create(group=demo_group, email="bob@home.example",
                                       status=Membership.Status.BANNED)
    [(_, outcome)] = pipeline.handle_inbound("bob@home.example", ["demo@groups.localhost"],
                                             _from("bob@home.example", "banned"))
    assert outcome.kind == "rejected"
    assert banned.user is None and Membership.objects.filter(user=bob).count() == 1


def test_only_a_verified_address_of_the_account_may_receive_mail(demo_group):
    bob = _bob_with_addresses()
    m = Membership.objects.get(group=demo_group, user=bob)
    for address in ("bob@unverified.example", "alice@example.org"):
        try:
            membership_actions.set_address(m, address)
        except membership_actions.AddressRefused as exc:
            assert address in str(exc)
        else:
            raise AssertionError(f"{address} was accepted")
    assert Membership.objects.get(pk=m.pk).email == "bob@example.org"


def test_the_websites_rule_finds_the_same_rows(demo_group):
    """groups.web.access (pages and the API) asks membership_for_user: rows by account,
    at the primary or a verified further address, never at an unverified one; the one
    that is in wins; no join and no second query for the account."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from groups.accountemails import membership_for_user

    bob = _bob_with_addresses()
    by_account = Membership.objects.get(group=demo_group, user=bob)
    assert membership_for_user(demo_group, bob) == by_account
    Membership.objects.filter(pk=by_account.pk).update(user=None,
                                                        status=Membership.Status.UNSUBSCRIBED)
    Membership.objects.create(group=demo_group, email="bob@unverified.example",
                              status=Membership.Status.ACTIVE)  # first: it would win
    at_home = Membership.objects.create(group=demo_group, email="bob@home.example",
                                        status=Membership.Status.ACTIVE)
    with CaptureQueriesContext(connection) as queries:
        found = membership_for_user(demo_group, bob)
        assert found == at_home and found.user is None
    assert len(queries) == 1
    Membership.objects.filter(pk=at_home.pk).delete()
    assert membership_for_user(demo_group, bob).pk == by_account.pk  # at the primary
    assert membership_for_user(demo_group, User.objects.create_user(
        username="zoe", email="zoe@example.net", password="x" * 12)) is None
