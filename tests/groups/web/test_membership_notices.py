"""Welcome, goodbye and pending notices from the website's membership changes.

Each notice is an outbox row (for Karl) written in the same transaction as the
status change; these tests read the rows back and decode the queued message.
"""

from __future__ import annotations

import base64
import email
import email.policy

import pytest
from django.template import TemplateSyntaxError
from django.test import Client
from django.urls import reverse

from groups import links
from groups.models import Group, Membership, NoticeTemplate, OutboxItem

pytestmark = pytest.mark.django_db
S = Membership.Status


def queued() -> list[tuple[list[str], str]]:
    """(recipients, subject) of every queued notice, oldest first."""
    out = []
    for item in OutboxItem.objects.order_by("pk"):
        msg = email.message_from_bytes(base64.b64decode(item.payload["message_b64"]),
                                       policy=email.policy.default)
        out.append(([r["address"] for r in item.payload["recipients"]], str(msg["Subject"])))
    return out


def test_joining_an_open_group_sends_a_welcome(group, clients):
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert Membership.objects.get(group=group, email="charlie@example.org").status == S.ACTIVE
    assert queued() == [(["charlie@example.org"], "[hikers] Welcome to Hikers")]


def test_joining_twice_welcomes_once(group, clients):
    clients["charlie"].post(reverse("join", args=["hikers"]))
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert len(queued()) == 1


def test_asking_to_join_an_approval_group_tells_the_asker_and_the_moderators(group, clients):
    Group.objects.filter(pk=group.pk).update(join_policy=Group.JoinPolicy.APPROVAL)
    clients["charlie"].post(reverse("join", args=["hikers"]))
    clients["charlie"].post(reverse("join", args=["hikers"]))  # asking again mails nobody
    notices = queued()
    assert (["charlie@example.org"], "[hikers] Your request to join is awaiting approval") in (
        notices)
    owners = sorted(to[0] for to, subject in notices if "Request to join" in subject)
    assert owners == ["alice@example.org", "mona@example.org"]
    assert len(notices) == 3


def test_approving_a_pending_member_welcomes_them(group, clients, people):
    m = Membership.objects.create(group=group, user=people["charlie"],
                                  email="charlie@example.org", status=S.PENDING_APPROVAL)
    url = reverse("mod_pending_members", args=["hikers"])
    clients["mona"].post(url, {"ids": [m.pk], "action": "approve"})
    clients["mona"].post(url, {"ids": [m.pk], "action": "approve"})  # double click
    m.refresh_from_db()
    assert m.status == S.ACTIVE
    assert queued() == [(["charlie@example.org"], "[hikers] Welcome to Hikers")]


def test_declining_tells_the_requester_once_with_the_reason(group, clients, people):
    m = Membership.objects.create(group=group, user=people["charlie"],
                                  email="charlie@example.org", status=S.PENDING_APPROVAL)
    url = reverse("mod_pending_members", args=["hikers"])
    form = {"ids": [m.pk], "action": "decline", "reason": "This group is for club members."}
    clients["mona"].post(url, form)
    clients["mona"].post(url, form)  # double click
    m.refresh_from_db()
    assert m.status == S.REMOVED
    assert queued() == [(["charlie@example.org"], "[hikers] Your request to join was declined")]
    notice = email.message_from_bytes(
        base64.b64decode(OutboxItem.objects.get().payload["message_b64"]),
        policy=email.policy.default)
    body = notice.get_content()
    assert "declined your request to join" in body and "This group is for club members." in body
    assert "hikers+owner@groups.localhost" in body
    assert "Welcome" not in notice["Subject"]


def test_an_owners_own_decline_wording_is_used(group, clients, people):
    NoticeTemplate.objects.create(group=group, kind="declined", subject="Sorry {{ membership.name }}",
                                  body="{{ reason|default:'No reason given.' }}")
    m = Membership.objects.create(group=group, user=people["charlie"],
                                  email="charlie@example.org", status=S.PENDING_APPROVAL)
    clients["mona"].post(reverse("mod_pending_members", args=["hikers"]),
                         {"ids": [m.pk], "action": "decline"})
    assert queued() == [(["charlie@example.org"], "Sorry Charlie")]


def test_leaving_sends_a_goodbye(group, clients):
    clients["bob"].post(reverse("leave", args=["hikers"]))
    assert Membership.objects.get(group=group, email="bob@example.org").status == S.UNSUBSCRIBED
    assert queued() == [(["bob@example.org"], "[hikers] You have left Hikers")]
    clients["bob"].post(reverse("leave", args=["hikers"]))
    assert len(queued()) == 1


def test_one_click_unsubscribe_says_goodbye_once(group):
    m = Membership.objects.get(group=group, email="bob@example.org")
    url = links.unsubscribe_url(m.pk).removeprefix("http://testserver")
    mail_client = Client(enforce_csrf_checks=True)
    for _ in range(2):  # mail clients retry; the second POST changes nothing
        response = mail_client.post(url, "List-Unsubscribe=One-Click",
                                    content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200
    m.refresh_from_db()
    assert m.status == S.UNSUBSCRIBED
    assert queued() == [(["bob@example.org"], "[hikers] You have left Hikers")]


def test_confirming_an_invitation_welcomes(group, people):
    m = Membership.objects.create(group=group, email="dora@example.org", status=S.INVITED)
    url = links.confirm_subscription_url(m.pk).removeprefix("http://testserver")
    Client().post(url)
    m.refresh_from_db()
    assert m.status == S.ACTIVE
    assert queued() == [(["dora@example.org"], "[hikers] Welcome to Hikers")]


def test_an_owners_own_welcome_wording_is_used(group, clients):
    NoticeTemplate.objects.create(group=group, kind="welcome", subject="Hi {{ membership.name }}",
                                  body="Boots on, {{ membership.email }}.")
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert queued() == [(["charlie@example.org"], "Hi Charlie")]


def test_no_status_change_without_its_notice(group, clients):
    """A notice that can't be written rolls the join back: nothing half-done."""
    NoticeTemplate.objects.create(group=group, kind="welcome", subject="Hi",
                                  body="{% if %}broken")
    with pytest.raises(TemplateSyntaxError):
        clients["charlie"].post(reverse("join", args=["hikers"]))
    assert not Membership.objects.filter(group=group, email="charlie@example.org").exists()
    assert OutboxItem.objects.count() == 0
