"""Joining and leaving under each join policy, subscription settings, topic preferences."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import Group, Hashtag, HashtagPreference, Membership, TopicPreference
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db


def _status(email: str) -> str | None:
    return Membership.objects.filter(email=email).values_list("status", flat=True).first()


@pytest.mark.parametrize("policy,expected", [("open", "active"),
                                             ("approval", "pending_approval"),
                                             ("invite", None)])
def test_join_follows_the_join_policy(group, clients, policy, expected):
    Group.objects.filter(pk=group.pk).update(join_policy=policy)
    response = clients["charlie"].post(reverse("join", args=["hikers"]))
    assert response.status_code == 302
    assert _status("charlie@example.org") == expected


def test_invited_person_may_join_invite_only_group(group, clients):
    Group.objects.filter(pk=group.pk).update(join_policy="invite")
    Membership.objects.create(group=group, email="charlie@example.org", status="invited")
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert _status("charlie@example.org") == "active"


def test_banned_cannot_rejoin_and_anonymous_must_log_in(group, clients):
    Membership.objects.filter(email="bob@example.org").update(status="banned")
    clients["bob"].post(reverse("join", args=["hikers"]))
    assert _status("bob@example.org") == "banned"
    response = clients["anon"].post(reverse("join", args=["hikers"]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_join_needs_post_with_csrf(group, people):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(people["charlie"])
    assert client.post(reverse("join", args=["hikers"])).status_code == 403
    # A GET (the login page sending people back) changes nothing: it asks to confirm.
    page = client.get(reverse("join", args=["hikers"]))
    assert page.status_code == 200 and "Join Hikers?" in page.content.decode()
    assert not Membership.objects.filter(email="charlie@example.org").exists()


def test_leave_and_last_owner_cannot_leave(group, clients):
    clients["bob"].post(reverse("leave", args=["hikers"]))
    assert _status("bob@example.org") == "unsubscribed"
    clients["alice"].post(reverse("leave", args=["hikers"]))
    assert _status("alice@example.org") == "active"


def test_subscription_settings_and_hashtag_preferences(group, clients):
    gear = Hashtag.objects.create(group=group, name="gear")
    url = reverse("subscription", args=["hikers"])
    assert clients["charlie"].get(url).status_code == 404
    assert clients["bob"].get(url).status_code == 200
    response = clients["bob"].post(url, {"display_name": "", "delivery": "digest",
                                         "message_selection": "followed",
                                         f"hashtag_{gear.pk}": "mute"})
    assert response.status_code == 302
    bob = Membership.objects.get(email="bob@example.org")
    assert (bob.delivery, bob.message_selection) == ("digest", "followed")
    assert HashtagPreference.objects.get(membership=bob).mode == "mute"
    clients["bob"].post(url, {"delivery": "nomail", "message_selection": "all",
                              f"hashtag_{gear.pk}": ""})
    assert not HashtagPreference.objects.exists()


def test_mute_and_follow_a_topic_from_its_page(group, clients):
    msg = make_post(group, "Long thread")
    url = reverse("topic_preference", args=["hikers", msg.topic_id])
    clients["bob"].post(url, {"mode": "follow"})
    assert TopicPreference.objects.get().mode == "follow"
    page = clients["bob"].get(reverse("topic", args=["hikers", msg.topic_id])).content.decode()
    assert "Unfollow" in page
    clients["bob"].post(url, {"mode": "none"})
    assert not TopicPreference.objects.exists()
    assert clients["charlie"].post(url, {"mode": "mute"}).status_code == 404


def test_my_groups_lists_hidden_groups_of_mine(group, clients):
    Group.objects.filter(pk=group.pk).update(privacy="hidden")
    assert "Hikers" in clients["bob"].get(reverse("my_groups")).content.decode()
    assert "Hikers" not in clients["charlie"].get(reverse("my_groups")).content.decode()
