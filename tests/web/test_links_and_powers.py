"""Signed moderation links and what moderators may do to others (#22 item 6)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups import links, tokens
from groups.models import Group, HeldMessage, Membership, Message


def _held(clients, group) -> HeldMessage:
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.MODERATED)
    clients["bob"].post(reverse("new_topic", args=["hikers"]),
                        {"subject": "Secret plans", "body": "Meet at the old mill"})
    return HeldMessage.objects.get(subject="Secret plans")


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_the_action_is_signed_inside_the_link(messageserver, group, clients):
    held = _held(clients, group)
    approve = _path(links.moderation_url(held.pk, "approve"))
    token = approve.strip("/").split("/")[-1]
    held_id, action, deadline, _mac = token.split("-")
    assert action == "approve"
    turned = f"/moderate/{held_id}-reject-{deadline}-{_mac}/"
    assert clients["anon"].post(turned).status_code == 400
    assert clients["anon"].get(approve.replace("/moderate/", "/moderate/x")).status_code == 400
    held.refresh_from_db()
    assert held.state == "pending"
    # the old URL shape, action beside the token, no longer exists
    assert clients["anon"].post(approve + "reject/").status_code == 404


def test_a_moderation_link_is_one_use_and_expires(messageserver, group, clients):
    held = _held(clients, group)
    approve = _path(links.moderation_url(held.pk, "approve"))
    reject = _path(links.moderation_url(held.pk, "reject"))
    clients["anon"].post(approve)
    held.refresh_from_db()
    assert held.state == "approved"
    assert Message.objects.filter(subject="Secret plans").count() == 1
    again = clients["anon"].post(reject, {"reason": "too late"})
    assert "decides nothing more" in again.content.decode()
    held.refresh_from_db()
    assert held.state == "approved"
    expired = tokens.make(tokens.MODERATE_LINK, held.pk, "approve", ttl=-1)
    page = clients["anon"].get(reverse("moderate_link", args=[expired]))
    assert page.status_code == 400 and "expired" in page.content.decode()


def test_only_the_groups_moderators_see_the_held_message(messageserver, group, clients):
    held = _held(clients, group)
    url = _path(links.moderation_url(held.pk, "approve"))
    assert "Meet at the old mill" in clients["mona"].get(url).content.decode()
    for who in ("anon", "charlie", "bob"):  # bob is a member, not a moderator
        page = clients[who].get(url).content.decode()
        assert "Meet at the old mill" not in page and "log in" in page, who


@pytest.mark.django_db
def test_a_moderator_only_invites_and_an_owner_may_add(group, clients):
    clients["mona"].post(reverse("mod_add_members", args=["hikers"]),
                         {"addresses": "newbie@example.org", "delivery": "individual",
                          "confirm": "yes"})
    assert Membership.objects.get(email="newbie@example.org").status == "invited"
    form = clients["mona"].get(reverse("mod_add_members", args=["hikers"])).content.decode()
    assert 'name="invite"' not in form
    clients["alice"].post(reverse("mod_add_members", args=["hikers"]),
                          {"addresses": "direct@example.org", "delivery": "individual",
                           "confirm": "yes"})
    assert Membership.objects.get(email="direct@example.org").status == "active"


@pytest.mark.django_db
def test_a_moderator_cannot_change_an_owners_delivery(group, clients):
    alice = Membership.objects.get(group=group, email="alice@example.org")
    bob = Membership.objects.get(group=group, email="bob@example.org")
    clients["mona"].post(reverse("mod_members", args=["hikers"]),
                         {"ids": [alice.pk, bob.pk], "action": "delivery_nomail"})
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.delivery, bob.delivery) == ("individual", "nomail")
    clients["alice"].post(reverse("mod_members", args=["hikers"]),
                          {"ids": [bob.pk], "action": "delivery_digest"})
    bob.refresh_from_db()
    assert bob.delivery == "digest"
