"""Subgroups: made by the parent's owners (PARENT+CHILD@), joined only by the parent's
members (web, mail, owners' adding), left when the parent is left, posted to by mail at
PARENT+CHILD@ with their own archive, and owned by the parent's owners."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.membership import add_members
from groups.models import Group, Membership, Message
from messageserver import addresses, membership_actions
from messageserver.client import MessageServerClient

pytestmark = pytest.mark.django_db


def make(clients, child: str = "walkers", **extra):  # noqa: ANN201
    return clients["alice"].post(reverse("mod_subgroups", args=["hikers"]),
                                 {"child": child, "title": "Walkers", **extra})


def test_addresses_of_a_subgroup():
    parse = addresses.parse
    assert parse("hikers+walkers@groups.localhost") == addresses.Destination(
        "post", group="hikers+walkers")
    assert parse("hikers+walkers+subscribe@groups.localhost") == addresses.Destination(
        "command", group="hikers+walkers", command="subscribe")
    assert parse("hikers+walkers+approve+abc@groups.localhost").group == "hikers+walkers"
    assert parse("hikers+subscribe@groups.localhost").command == "subscribe"  # still a command


def test_owners_make_subgroups_and_the_name_rule(group, clients):
    assert make(clients).status_code == 302
    sub = Group.objects.get(name="hikers+walkers")
    assert sub.parent == group and sub.post_address.startswith("hikers+walkers@")
    assert Membership.objects.get(group=sub).role == "owner"
    for child, error in (("walkers", "has a subgroup named"), ("subscribe", "command word"),
                         ("Bad Name", "lower-case letters")):
        page = make(clients, child)
        assert page.status_code == 400 and error in page.content.decode(), child
    assert clients["mona"].get(reverse("mod_subgroups", args=["hikers"])).status_code == 404
    home = clients["anon"].get(reverse("group_home", args=["hikers"])).content.decode()
    assert "Subgroups" in home and "/g/hikers+walkers/" in home
    sub_home = clients["anon"].get(reverse("group_home", args=["hikers+walkers"]))
    assert sub_home.status_code == 200 and "A subgroup of" in sub_home.content.decode()


def test_only_the_parents_members_join(group, clients, people):
    make(clients)
    sub = Group.objects.get(name="hikers+walkers")
    assert clients["bob"].post(reverse("join", args=["hikers+walkers"])).status_code == 302
    assert Membership.objects.get(group=sub, user=people["bob"]).status == "active"
    page = clients["charlie"].post(reverse("join", args=["hikers+walkers"]), follow=True)
    assert "join Hikers first" in page.content.decode()
    assert not Membership.objects.filter(group=sub, user=people["charlie"]).exists()
    report = add_members(sub, ["charlie@example.org", "mona@example.org"])
    assert report.added == ["mona@example.org"] and report.not_in_parent == [
        "charlie@example.org"]
    bob = Membership.objects.get(group=group, user=people["bob"])
    membership_actions.leave(bob.pk, actor="bob@example.org")
    assert Membership.objects.get(group=sub, user=people["bob"]).status == "removed"


def test_the_parents_owners_own_it(group, clients, people):
    make(clients, "stewards")
    sub = Group.objects.get(name="hikers+stewards")
    Membership.objects.filter(group=sub).delete()  # no own owner: the parent's still own it
    assert clients["alice"].get(reverse("mod_settings", args=["hikers+stewards"])
                                ).status_code == 200
    assert clients["mona"].get(reverse("mod_settings", args=["hikers+stewards"])
                               ).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_mail_to_the_subgroup_is_its_own(messageserver, group, clients, people):
    make(clients)
    sub = Group.objects.get(name="hikers+walkers")
    raw = (b"From: alice@example.org\r\nTo: hikers+walkers@groups.localhost\r\n"
           b"Subject: Walkers only\r\nMessage-ID: <w1@example.org>\r\n\r\nHello walkers.\r\n")
    answer = MessageServerClient().inbound("alice@example.org",
                                           ["hikers+walkers@groups.localhost"], raw)
    assert answer["code"] == 250, answer
    msg = Message.objects.get(subject__contains="Walkers only")
    assert msg.group == sub
    assert not Message.objects.filter(group=group).exists()
    out = MessageServerClient().inbound(
        "charlie@example.org", ["hikers+walkers+subscribe@groups.localhost"],
        b"From: charlie@example.org\r\nTo: hikers+walkers+subscribe@groups.localhost\r\n"
        b"Subject: join\r\nMessage-ID: <w2@example.org>\r\n\r\n")
    assert out["code"] == 250  # the refusal is mailed back, naming the parent
    assert not Membership.objects.filter(group=sub, email="charlie@example.org",
                                         status="active").exists()
