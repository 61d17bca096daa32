"""The moderation queue on the web: each action, bad input, and who may use it.

Held messages are made by the real hold path (messageserver.holding) from
the MIME a post would be; decisions go through a live messageserver
(the ``messageserver`` fixture) as on the real site.
"""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import (
    ActivityEntry,
    Group,
    HeldMessage,
    Membership,
    Message,
    ModerationReason,
    OutboxItem,
)
from messageserver import holding, posts
from messageserver.inbound import InboundMail
from messageserver.mailparse import parse
from tests.conftest import built_jobs

QUEUE = reverse("mod_pending_messages", args=["hikers"])


def hold(group: Group, subject: str, text: str = "Some words.", sender: str = "bob@example.org",
         attachments=None, nonmember: bool = False) -> HeldMessage:
    raw = posts.compose(group, sender, sender.split("@")[0].title(), subject, text,
                        attachments=attachments)
    membership = Membership.objects.filter(group=group, email=sender).first()
    return holding.hold(group, InboundMail(mail_from=sender, raw=raw, parsed=parse(raw),
                                           now=timezone.now(), via="web"),
                        membership, "all posts are moderated", nonmember=nonmember)


def notice_text(address: str, word: str) -> str:
    """The decoded text of the one notice queued to ``address`` whose description has ``word``."""
    import email
    import email.policy

    found = [o for o in OutboxItem.objects.filter(description__contains=word)
             if {"address": address} in o.payload["recipients"]]
    assert len(found) == 1, [o.description for o in OutboxItem.objects.all()]
    msg = email.message_from_bytes(base64.b64decode(found[0].payload["message_b64"]),
                                   policy=email.policy.default)
    return msg.get_body(preferencelist=("plain",)).get_content()


@pytest.mark.parametrize("who,status", [("alice", 200), ("mona", 200), ("bob", 404),
                                        ("charlie", 404), ("root", 200)])
def test_queue_shows_why_and_what_to_moderators_only(group, clients, who, status):
    hold(group, "Trail map", "See the map attached.",
         attachments=[("map.pdf", "application/pdf", b"%PDF-1.4 map")])
    page = clients[who].get(QUEUE)
    assert page.status_code == status
    if status == 200:
        text = page.content.decode()
        for seen in ("Trail map", "See the map attached.", "all posts are moderated",
                     "map.pdf", "Approve and unmoderate sender", "Edit before approving",
                     "Reject", "Discard silently"):
            assert seen in text


def test_queue_logged_out_is_sent_to_log_in(group, clients):
    assert clients["anon"].get(QUEUE).status_code == 302


def test_attachment_downloads_for_moderators_only(group, clients):
    held = hold(group, "Trail map", attachments=[("map.pdf", "application/pdf", b"%PDF map")])
    url = reverse("mod_held_attachment", args=["hikers", held.pk, 0])
    got = clients["mona"].get(url)
    assert got.status_code == 200 and got.content == b"%PDF map"
    assert got["Content-Type"] == "application/octet-stream"
    assert got["Content-Disposition"].startswith("attachment") and "map.pdf" in got[
        "Content-Disposition"]
    assert clients["bob"].get(url).status_code == 404
    assert clients["charlie"].get(url).status_code == 404
    assert clients["mona"].get(reverse("mod_held_attachment",
                                       args=["hikers", held.pk, 5])).status_code == 404


def test_approve_archives_and_queues_the_fanout(messageserver, group, clients):
    held = hold(group, "Sunday walk", "Meet at nine.")
    response = clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "approve"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.state, held.decided_by) == ("approved", "mona@example.org")
    msg = Message.objects.get(group=group, subject="Sunday walk")
    assert "Meet at nine." in msg.body_text
    assert built_jobs() and OutboxItem.objects.filter(payload__meta__number=msg.number,
                                                      payload__meta__kind="post").exists()


def test_approve_and_unmoderate_sets_the_senders_posting_status(messageserver, group, clients):
    Membership.objects.filter(email="bob@example.org").update(posting_status="moderated")
    held = hold(group, "Unmoderate me")
    clients["alice"].post(QUEUE, {"ids": [held.pk], "action": "approve_unmoderate"})
    assert Message.objects.filter(subject="Unmoderate me").exists()
    assert Membership.objects.get(email="bob@example.org").posting_status == "override"
    verbs = set(ActivityEntry.objects.filter(actor="alice@example.org").values_list("verb",
                                                                                   flat=True))
    assert {"approve_unmoderate", "set_posting_status"} <= verbs


def test_approve_and_unmoderate_a_nonmember_is_refused(messageserver, group, clients):
    held = hold(group, "From outside", sender="stranger@example.net", nonmember=True)
    page = clients["mona"].get(QUEUE).content.decode()
    assert "Approve and unmoderate sender" not in page  # nobody to unmoderate
    response = clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "approve_unmoderate"},
                                    follow=True)
    assert "not a member" in response.content.decode()
    held.refresh_from_db()
    assert held.state == "pending"


def test_reject_with_a_saved_reason_tells_the_poster(messageserver, group, clients):
    reason = ModerationReason.objects.create(group=group, title="Off topic",
                                             text="This group is about hiking only.")
    held = hold(group, "Boat for sale")
    clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "reject",
                                 "saved_reason": reason.pk, "reason": ""})
    held.refresh_from_db()
    assert (held.state, held.decision_reason) == ("rejected", "This group is about hiking only.")
    assert "This group is about hiking only." in notice_text("bob@example.org",
                                                             f"rejected {held.pk}")
    [entry] = ActivityEntry.objects.filter(group=group, verb="reject_message")
    assert (entry.actor, entry.target) == ("mona@example.org", "bob@example.org")
    assert entry.detail == {"subject": "Boat for sale",
                            "reason": "This group is about hiking only."}
    assert not Message.objects.filter(subject="Boat for sale").exists()


def test_reject_typed_reason_wins_over_saved(messageserver, group, clients):
    reason = ModerationReason.objects.create(group=group, title="Spam", text="Spam.")
    held = hold(group, "Typed")
    clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "reject",
                                 "saved_reason": reason.pk, "reason": "Please ask first."})
    held.refresh_from_db()
    assert held.decision_reason == "Please ask first."


def test_discard_tells_nobody(messageserver, group, clients):
    held = hold(group, "Cheap pills", sender="spam@example.net", nonmember=True)
    before = OutboxItem.objects.count()
    clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "discard"})
    held.refresh_from_db()
    assert held.state == "discarded"
    assert OutboxItem.objects.count() == before
    assert not Message.objects.filter(subject="Cheap pills").exists()


def test_edit_then_approve_archives_the_edit_and_keeps_the_original(messageserver, group,
                                                                    clients):
    held = hold(group, "teh walk", "Meet at nien.",
                attachments=[("route.gpx", "application/gpx+xml", b"<gpx/>")])
    clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "approve_edited",
                                 "subject": "The walk", "body": "Meet at nine."})
    held.refresh_from_db()
    assert held.state == "approved"
    assert b"nien" in bytes(held.raw) and b"nine" in bytes(held.edited_raw)
    msg = Message.objects.get(group=group, subject="The walk")
    assert "Meet at nine." in msg.body_text and "nien" not in msg.body_text
    record = clients["alice"].get(QUEUE).content.decode()
    assert "Recently decided" in record and "edited before approval" in record
    [entry] = ActivityEntry.objects.filter(verb="approve_edited")
    assert entry.detail == {"subject": ["teh walk", "The walk"], "number": msg.number}
    assert [a.filename for a in msg.attachments.all()] == ["route.gpx"]
    assert b"Meet at nine." in bytes(msg.raw.data)


@pytest.mark.parametrize("data,field", [
    ({"subject": "", "body": "text"}, "Subject"),
    ({"subject": "ok", "body": "  "}, "Message"),
])
def test_edit_with_a_missing_field_names_it(messageserver, group, clients, data, field):
    held = hold(group, "Needs edit")
    response = clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "approve_edited",
                                            **data})
    assert response.status_code == 400
    assert field.lower() in response.content.decode().lower()
    held.refresh_from_db()
    assert held.state == "pending"


def test_bulk_approve_reject_discard(messageserver, group, clients):
    one, two, three, four = (hold(group, f"Bulk {n}") for n in range(4))
    clients["alice"].post(QUEUE, {"ids": [one.pk, two.pk], "action": "approve"})
    clients["alice"].post(QUEUE, {"ids": [three.pk], "action": "reject", "reason": "No."})
    clients["alice"].post(QUEUE, {"ids": [four.pk], "action": "discard"})
    states = dict(HeldMessage.objects.values_list("subject", "state"))
    assert states == {"Bulk 0": "approved", "Bulk 1": "approved", "Bulk 2": "rejected",
                      "Bulk 3": "discarded"}
    assert sorted(ActivityEntry.objects.filter(actor="alice@example.org").values_list(
        "verb", flat=True)) == ["approve_message", "approve_message", "discard_message",
                                "reject_message"]
    assert Message.objects.filter(subject__startswith="Bulk").count() == 2


@pytest.mark.parametrize("data,says", [
    ({"action": "approve"}, "Select at least one message"),
    ({"action": "fly", "ids": ["{pk}"]}, "Select a valid choice"),
    ({"action": "approve", "ids": ["999999"]}, "no longer waiting"),
    ({"action": "reject", "ids": ["{pk}"], "saved_reason": "999999"}, "Saved reason"),
    ({"action": "approve_edited", "ids": ["{pk}", "{pk2}"], "subject": "a", "body": "b"},
     "one message at a time"),
])
def test_bad_decisions_are_form_errors(group, clients, data, says):
    held, other = hold(group, "Bad input"), hold(group, "Other")
    data = {k: ([i.format(pk=held.pk, pk2=other.pk) for i in v] if isinstance(v, list) else v)
            for k, v in data.items()}
    response = clients["mona"].post(QUEUE, data)
    assert response.status_code == 400
    assert says in response.content.decode()
    assert HeldMessage.objects.filter(state="pending").count() == 2
    assert not ActivityEntry.objects.filter(actor="mona@example.org").exists()


def test_another_groups_held_message_cannot_be_decided(group, clients):
    other = Group.objects.create(name="sailors")
    held = hold(other, "Not yours", sender="x@example.net", nonmember=True)
    response = clients["mona"].post(QUEUE, {"ids": [held.pk], "action": "approve"})
    assert response.status_code == 400
    held.refresh_from_db()
    assert held.state == "pending"


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_members_and_outsiders_decide_nothing(group, clients, who):
    """The same 404 as a missing page; nothing is decided."""
    held = hold(group, "Mine")
    assert clients[who].post(QUEUE, {"ids": [held.pk], "action": "approve"}
                             ).status_code == 404
    held.refresh_from_db()
    assert held.state == "pending"


def test_saved_reasons_add_edit_delete(group, clients):
    url = reverse("mod_reasons", args=["hikers"])
    assert clients["mona"].post(url, {"title": "Off topic", "text": "Hiking only."}
                                ).status_code == 302
    reason = ModerationReason.objects.get(group=group)
    clash = clients["mona"].post(url, {"title": "off topic", "text": "x"})
    assert clash.status_code == 400 and "already has a reason" in clash.content.decode()
    empty = clients["mona"].post(url, {"title": "", "text": ""})
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    clients["alice"].post(reverse("mod_reason", args=["hikers", reason.pk]),
                          {"title": "Off topic", "text": "Walks and talks only."})
    reason.refresh_from_db()
    assert reason.text == "Walks and talks only."
    assert clients["bob"].get(url).status_code == 404
    assert clients["charlie"].post(reverse("mod_reason_delete", args=["hikers", reason.pk])
                                   ).status_code == 404
    clients["mona"].post(reverse("mod_reason_delete", args=["hikers", reason.pk]))
    assert not ModerationReason.objects.exists()
