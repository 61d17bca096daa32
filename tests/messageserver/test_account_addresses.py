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
