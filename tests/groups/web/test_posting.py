"""Posting and moderating from the web, through the real messageserver over HTTP."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from groups import links
from groups.models import Attachment, Group, HeldMessage, Message, OutboxItem
from tests.conftest import built_jobs
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db(transaction=True)


def test_member_posts_new_topic_with_attachment(messageserver, group, clients, settings,
                                                tmp_path):
    settings.ATTACHMENTS_DIR = tmp_path
    upload = SimpleUploadedFile("route.txt", b"left at the oak", content_type="text/plain")
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]), {
        "subject": "Saturday route", "body": "Here is the route.", "attachments": [upload]})
    assert response.status_code == 302, response.content.decode()[:2000]
    msg = Message.objects.get(subject="Saturday route")
    assert response["Location"] == reverse("message", args=["hikers", msg.number])
    assert msg.source == "web" and msg.sender_email == "bob@example.org"
    assert "Here is the route." in msg.body_text
    att = Attachment.objects.get(message=msg)
    assert att.filename == "route.txt"
    page = clients["anon"].get(response["Location"]).content.decode()
    assert "Here is the route." in page and "route.txt" in page
    assert built_jobs() and OutboxItem.objects.filter(kind="job").exists()  # like an email


def test_member_replies_into_the_same_topic(messageserver, group, clients):
    first = make_post(group, "Sunday walk", "Meet at nine.")
    response = clients["bob"].post(reverse("reply", args=["hikers", first.number]),
                                   {"subject": "", "body": "Count me in."})
    assert response.status_code == 302
    reply = Message.objects.get(body_text__contains="Count me in.")
    assert reply.topic_id == first.topic_id and reply.subject == "Re: Sunday walk"


def test_moderated_group_holds_a_web_post_then_moderator_approves(messageserver, group,
                                                                  clients):
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.MODERATED)
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]),
                                   {"subject": "Please approve", "body": "Held text"})
    assert response.status_code == 302
    held = HeldMessage.objects.get(subject="Please approve")
    assert not Message.objects.filter(subject="Please approve").exists()
    # bob is no moderator: the queue is a 404 to him
    assert clients["bob"].get(reverse("mod_pending_messages", args=["hikers"])
                              ).status_code == 404
    page = clients["mona"].get(reverse("mod_pending_messages", args=["hikers"])).content.decode()
    assert "Held text" in page
    clients["mona"].post(reverse("mod_pending_messages", args=["hikers"]),
                         {"ids": [held.pk], "action": "approve"})
    held.refresh_from_db()
    assert held.state == "approved" and held.decided_by == "mona@example.org"
    assert Message.objects.filter(subject="Please approve").count() == 1


def test_reject_with_reason_through_the_signed_link(messageserver, group, clients):
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.MODERATED)
    clients["bob"].post(reverse("new_topic", args=["hikers"]),
                        {"subject": "Off topic", "body": "Buy my boat"})
    held = HeldMessage.objects.get(subject="Off topic")
    url = links.moderation_url(held.pk, "reject").removeprefix("http://testserver")
    page = clients["mona"].get(url)  # the moderator, logged in, reads the message
    assert page.status_code == 200 and "Buy my boat" in page.content.decode()
    page = clients["anon"].get(url)  # whoever else holds the link doesn't
    assert page.status_code == 200 and "Buy my boat" not in page.content.decode()
    clients["anon"].post(url, {"reason": "Not about hiking"})
    held.refresh_from_db()
    assert held.state == "rejected" and held.decision_reason == "Not about hiking"
    again = clients["anon"].post(url, {"reason": "twice"})
    assert "rejected" in again.content.decode()


def test_rejected_post_shows_the_reason_on_the_form(messageserver, group, clients):
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.ANNOUNCE)
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]),
                                   {"subject": "Hi", "body": "May I?"})
    assert response.status_code == 400
    assert "announce-only" in response.content.decode()
    assert not Message.objects.filter(subject="Hi").exists()
    assert not HeldMessage.objects.exists()


def test_reply_to_a_locked_topic_is_refused_by_messageserver(messageserver, group, clients):
    first = make_post(group, "Closed", "No more.")
    first.topic.locked = True
    first.topic.save()
    response = clients["bob"].post(reverse("reply", args=["hikers", first.number]),
                                   {"body": "But wait"})
    assert response.status_code == 400 and "locked" in response.content.decode()


def test_messageserver_down_keeps_the_form(group, clients, monkeypatch):
    monkeypatch.setenv("MESSAGESERVER_URL", "http://127.0.0.1:9")
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]),
                                   {"subject": "Lost?", "body": "Not lost."})
    assert response.status_code == 400
    page = response.content.decode()
    assert "can&#x27;t be reached" in page and "Not lost." in page


def test_outsiders_cannot_post(group, clients):
    for who in ("anon", "charlie"):
        response = clients[who].get(reverse("new_topic", args=["hikers"]))
        assert response.status_code in (302, 404)
    assert clients["charlie"].post(reverse("new_topic", args=["hikers"]),
                                   {"subject": "x", "body": "y"}).status_code == 404


def test_attachment_type_limit_is_checked_before_sending(group, clients):
    Group.objects.filter(pk=group.pk).update(allowed_attachment_types="image/")
    upload = SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload")
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]), {
        "subject": "File", "body": "see file", "attachments": [upload]})
    assert response.status_code == 400
    assert "not allowed" in response.content.decode()
