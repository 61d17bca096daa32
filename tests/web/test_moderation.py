"""Moderator and owner pages: who may open them and what each action does."""

from __future__ import annotations

import html
import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from groups.models import Group, Hashtag, Membership, Message, Topic
from tests.web.conftest import make_post

pytestmark = pytest.mark.django_db

MOD_PAGES = ["mod_dashboard", "mod_members", "mod_add_members", "mod_pending_members",
             "mod_pending_messages", "mod_hashtags"]


def test_moderator_pages_permissions(group, clients):
    for name in MOD_PAGES:
        url = reverse(name, args=["hikers"])
        assert clients["anon"].get(url).status_code == 302, name  # to the login page
        for who in ("charlie", "bob"):
            assert clients[who].get(url).status_code == 404, (name, who)
        for who in ("mona", "alice", "root"):
            assert clients[who].get(url).status_code == 200, (name, who)


def test_settings_are_for_owners_only(group, clients):
    url = reverse("mod_settings", args=["hikers"])
    assert clients["mona"].get(url).status_code == 404
    assert clients["alice"].get(url).status_code == 200
    data = {f: getattr(group, f) for f in (
        "title", "description", "guidelines", "privacy", "join_policy", "posting_policy",
        "new_member_posts_moderated", "nonmember_policy", "unauthenticated_policy", "reply_to",
        "dmarc_handling", "subject_tag", "max_message_size", "max_attachment_size",
        "allowed_attachment_types", "moderation_expiry_days", "auto_lock_days")}
    data.update(posting_policy="moderated", subject_tag="[hike]",
                footer_template="Unsubscribe: {{ unsubscribe_url }}",
                unauthenticated_policy="reject")
    response = clients["alice"].post(url, data)
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.posting_policy == "moderated" and group.subject_tag == "[hike]"
    assert group.unauthenticated_policy == "reject"
    data["footer_template"] = "{% if %}"
    bad = clients["alice"].post(url, data)
    assert bad.status_code == 400 and "footer template has an error" in bad.content.decode()


def test_footer_live_preview_renders_in_the_sandbox(group, clients):
    url = reverse("mod_footer_preview", args=["hikers"])
    ok = clients["alice"].post(url, {"footer_template": "Hi {{ name }} of {{ group_name }}"})
    assert ok.content.decode() == "Hi Alex Example of hikers"
    unsafe = clients["alice"].post(url, {"footer_template": "{{ ''.__class__.__mro__ }}"})
    assert unsafe.status_code == 400
    assert clients["mona"].post(url, {"footer_template": "x"}).status_code == 404


def test_bulk_add_from_textarea_and_csv_reports_problems(group, clients):
    csv = SimpleUploadedFile("m.csv", b"eve@example.org,Eve\nnot-an-address,Nobody\n",
                             content_type="text/csv")
    url = reverse("mod_add_members", args=["hikers"])
    preview = clients["mona"].post(url, {
        "addresses": "Dan <dan@example.org>\nbob@example.org\ndan@example.org",
        "csv_file": csv, "delivery": "digest"}).content.decode()
    assert not Membership.objects.filter(email="eve@example.org").exists()  # a preview only
    for line in ("dan@example.org</td><td>Dan</td><td>will be invited",
                 "bob@example.org</td><td></td><td>already a member",
                 "not-an-address,Nobody</td><td></td><td>invalid address",
                 "eve@example.org</td><td>Eve</td><td>will be invited"):
        assert line in preview, line
    lines = re.search(r'<textarea name="addresses"[^>]*>(.*?)</textarea>', preview, re.S)
    page = clients["mona"].post(url, {"addresses": html.unescape(lines.group(1)),
                                      "delivery": "digest", "confirm": "yes"}).content.decode()
    assert "2 added, 1 already members, 1 duplicates, 1 invalid, 0 banned" in page
    assert Membership.objects.get(email="eve@example.org").delivery == "digest"
    assert Membership.objects.get(email="dan@example.org").display_name == "Dan"


def test_invite_sends_a_signed_confirmation_link(group, clients):
    clients["alice"].post(reverse("mod_add_members", args=["hikers"]), {
        "addresses": "fay@example.org", "delivery": "individual", "invite": "on",
        "confirm": "yes"})
    assert Membership.objects.get(email="fay@example.org").status == "invited"
    assert len(mail.outbox) == 1 and "/confirm/subscription/" in mail.outbox[0].body


def test_bulk_actions_and_role_rules(group, clients):
    bob = Membership.objects.get(email="bob@example.org")
    alice = Membership.objects.get(email="alice@example.org")
    url = reverse("mod_members", args=["hikers"])
    clients["mona"].post(url, {"ids": [bob.pk], "action": "delivery_nomail"})
    bob.refresh_from_db()
    assert bob.delivery == "nomail"
    clients["mona"].post(url, {"ids": [bob.pk], "action": "role_moderator"})  # owners only
    bob.refresh_from_db()
    assert bob.role == "member"
    clients["mona"].post(url, {"ids": [alice.pk], "action": "ban"})  # can't ban an owner
    alice.refresh_from_db()
    assert alice.status == "active"
    clients["alice"].post(url, {"ids": [alice.pk], "action": "role_member"})  # last owner
    alice.refresh_from_db()
    assert alice.role == "owner"
    clients["mona"].post(url, {"ids": [bob.pk], "action": "ban"})
    bob.refresh_from_db()
    assert bob.status == "banned"


def test_member_search_and_bounce_status(group, clients):
    Membership.objects.filter(email="bob@example.org").update(bounce_state="bouncing",
                                                              bounce_score=3.5)
    page = clients["mona"].get(reverse("mod_members", args=["hikers"]) + "?q=bob"
                               ).content.decode()
    assert "bob@example.org" in page and "alice@example.org" not in page
    assert "Bouncing" in page and "3.5" in page


def test_pending_members_approve_and_decline(group, clients):
    one = Membership.objects.create(group=group, email="p1@example.org",
                                    status="pending_approval")
    two = Membership.objects.create(group=group, email="p2@example.org",
                                    status="pending_approval")
    url = reverse("mod_pending_members", args=["hikers"])
    assert "p1@example.org" in clients["mona"].get(url).content.decode()
    clients["mona"].post(url, {"ids": [one.pk], "action": "approve"})
    clients["mona"].post(url, {"ids": [two.pk], "action": "decline"})
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == ("active", "removed")


def test_hashtags_create_and_edit(group, clients):
    url = reverse("mod_hashtags", args=["hikers"])
    clients["mona"].post(url, {"name": "#news", "description": "News", "expires_days": 0,
                               "expire_action": "lock", "moderated": "on"})
    tag = Hashtag.objects.get(name="news")
    assert tag.moderated
    dup = clients["mona"].post(url, {"name": "NEWS", "expires_days": 0, "expire_action": "lock"})
    assert dup.status_code == 400 and "exists already" in dup.content.decode()
    clients["mona"].post(reverse("mod_hashtag", args=["hikers", tag.pk]), {
        "name": "news", "expires_days": 7, "expire_action": "delete", "special_notice": "on"})
    tag.refresh_from_db()
    assert (tag.moderated, tag.expires_days, tag.special_notice) == (False, 7, True)


def test_topic_lock_sticky_delete(group, clients):
    msg = make_post(group, "Old news")
    url = reverse("mod_topic", args=["hikers", msg.topic_id])
    assert clients["bob"].post(url, {"action": "lock"}).status_code == 404
    clients["mona"].post(url, {"action": "lock"})
    clients["mona"].post(url, {"action": "stick"})
    topic = Topic.objects.get(pk=msg.topic_id)
    assert topic.locked and topic.sticky
    page = clients["bob"].get(reverse("topic", args=["hikers", topic.pk])).content.decode()
    assert "Locked" in page and ">Reply<" not in page
    clients["mona"].post(url, {"action": "delete"})
    assert not Topic.objects.filter(pk=topic.pk).exists()


def test_message_delete_hides_it_and_fixes_the_topic(group, clients):
    first = make_post(group, "Trip", "First.", minutes_ago=30)
    middle = make_post(group, "Re: Trip", "Middle.", topic=first.topic, minutes_ago=20)
    last = make_post(group, "Re: Trip", "Last.", topic=first.topic, minutes_ago=10)
    assert clients["bob"].post(reverse("mod_message_delete", args=["hikers", last.number])
                               ).status_code == 404
    clients["mona"].post(reverse("mod_message_delete", args=["hikers", last.number]))
    assert Message.objects.get(pk=last.pk).deleted
    assert clients["anon"].get(reverse("message", args=["hikers", last.number])
                               ).status_code == 404
    topic = Topic.objects.get(pk=first.topic_id)
    assert (topic.message_count, topic.first_message_id, topic.last_message_id) == (
        2, first.pk, middle.pk)
    assert topic.last_post_at == middle.date
    clients["mona"].post(reverse("mod_message_delete", args=["hikers", first.number]))
    topic.refresh_from_db()
    assert (topic.message_count, topic.first_message_id, topic.last_message_id) == (
        1, middle.pk, middle.pk)
    listing = clients["anon"].get(reverse("topics", args=["hikers"])).content.decode()
    assert "1 message\n" in listing and "2 messages" not in listing


def test_deleting_the_last_message_deletes_the_topic(group, clients):
    only = make_post(group, "Oops")
    response = clients["mona"].post(reverse("mod_message_delete", args=["hikers", only.number]))
    assert response.status_code == 302 and response["Location"].endswith("/g/hikers/topics/")
    assert not Topic.objects.filter(pk=only.topic_id).exists()
    assert not Message.objects.filter(pk=only.pk).exists()
    assert clients["mona"].post(reverse("mod_message_delete", args=["hikers", only.number])
                                ).status_code == 404


def test_site_admin_moderates_any_group(group, clients):
    Group.objects.filter(pk=group.pk).update(privacy="hidden")
    assert clients["root"].get(reverse("mod_settings", args=["hikers"])).status_code == 200
