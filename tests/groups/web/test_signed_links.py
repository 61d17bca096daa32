"""The signed links we email: one-click unsubscribe, mute, confirmations, restore."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from groups import links, tokens
from groups.models import Group, Membership, TopicPreference, User
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _bob(group) -> Membership:
    return Membership.objects.get(group=group, email="bob@example.org")


def test_unsubscribe_get_confirms_without_changing_anything(group):
    bob = _bob(group)
    response = Client().get(_path(links.unsubscribe_url(bob.pk)))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="List-Unsubscribe" value="One-Click"' in page and "bob@example.org" in page
    bob.refresh_from_db()
    assert bob.status == Membership.Status.ACTIVE


def test_one_click_post_unsubscribes_exactly_that_member_and_is_idempotent(group):
    bob = _bob(group)
    client = Client(enforce_csrf_checks=True)  # a mail client has no CSRF cookie
    url = _path(links.unsubscribe_url(bob.pk))
    for _ in range(2):
        response = client.post(url, data="List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200
    statuses = dict(Membership.objects.filter(group=group).values_list("email", "status"))
    assert statuses == {"alice@example.org": "active", "mona@example.org": "active",
                        "bob@example.org": "unsubscribed"}


def test_one_click_post_as_multipart_form_works_too(group):
    bob = _bob(group)
    response = Client(enforce_csrf_checks=True).post(
        _path(links.unsubscribe_url(bob.pk)), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    bob.refresh_from_db()
    assert bob.status == "unsubscribed"


def test_unsubscribe_refuses_tampered_or_foreign_tokens(group):
    bob, alice = _bob(group), Membership.objects.get(email="alice@example.org")
    token = tokens.make(tokens.UNSUBSCRIBE, bob.pk)
    forged = f"{alice.pk}-{token.split('-')[1]}"
    other_purpose = tokens.make(tokens.MUTE_TOPIC, alice.pk)
    for bad in (forged, other_purpose, "nonsense"):
        response = Client().post(reverse("unsubscribe", args=[bad]),
                                 data="List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400
    assert not Membership.objects.filter(status="unsubscribed").exists()


def test_unsubscribe_post_without_one_click_body_is_refused(group):
    bob = _bob(group)
    response = Client().post(_path(links.unsubscribe_url(bob.pk)), {})
    assert response.status_code == 400
    bob.refresh_from_db()
    assert bob.status == "active"


def test_unsubscribe_does_not_lift_a_ban(group):
    bob = _bob(group)
    Membership.objects.filter(pk=bob.pk).update(status=Membership.Status.BANNED)
    Client().post(_path(links.unsubscribe_url(bob.pk)), {"List-Unsubscribe": "One-Click"})
    bob.refresh_from_db()
    assert bob.status == "banned"


def test_mute_topic_link(group):
    bob = _bob(group)
    msg = make_post(group, "Noisy thread")
    url = _path(links.mute_topic_url(bob.pk, msg.topic_id))
    client = Client()
    assert client.get(url).status_code == 200
    assert not TopicPreference.objects.exists()
    response = client.post(url)
    assert response.status_code == 200 and "Muted" in response.content.decode()
    assert TopicPreference.objects.get().mode == "mute"
    # The link's form carries a CSRF token: a cross-site POST without one fails.
    assert Client(enforce_csrf_checks=True).post(url).status_code == 403


def test_confirm_subscription_then_owner_approval(group):
    Group.objects.filter(pk=group.pk).update(join_policy=Group.JoinPolicy.APPROVAL)
    pending = Membership.objects.create(group=group, email="dan@example.org",
                                        status=Membership.Status.PENDING_CONFIRM)
    url = _path(links.confirm_subscription_url(pending.pk))
    assert Client().get(url).status_code == 200
    pending.refresh_from_db()
    assert pending.status == "pending_confirm"
    Client().post(url)
    pending.refresh_from_db()
    assert pending.status == "pending_approval"


def test_restore_membership_only_from_removed_and_expiring(group):
    bob = _bob(group)
    Membership.objects.filter(pk=bob.pk).update(status=Membership.Status.REMOVED)
    url = _path(links.restore_membership_url(bob))
    Client().post(url)
    bob.refresh_from_db()
    assert bob.status == "active"
    expired = tokens.make(tokens.RESTORE, bob.pk, bob.removal_serial, ttl=-10)
    assert Client().get(reverse("restore_membership", args=[expired])).status_code == 400


def test_confirm_email(people):
    user = User.objects.create_user("dan", "dan@example.org", "pw-dan-123456")
    url = _path(links.confirm_email_url(user.pk))
    assert Client().post(url, {"password": "not dan's"}).status_code == 400
    user.refresh_from_db()
    assert not user.email_confirmed
    Client().post(url, {"password": "pw-dan-123456"})
    user.refresh_from_db()
    assert user.email_confirmed
