"""messageserver.moderation.decide's newer decisions (edit, unmoderate, discard) on a real
held mail, and the edit rule alone (messageserver.heldedit)."""

from __future__ import annotations

import email
import email.policy

import pytest

from groups.models import HeldMessage, Membership, Message
from messageserver import heldedit, moderation
from tests.conftest import mail
from tests.messageserver.rules.conftest import DOMAIN, deliver, queued


@pytest.fixture
def held(demo_group):
    Membership.objects.filter(email="bob@example.org").update(posting_status="moderated")
    outcome = deliver("bob@example.org", f"demo@{DOMAIN}", mail("member_post.eml"))
    return HeldMessage.objects.get(pk=outcome.held_id)


def test_edited_approval_archives_the_edit_and_keeps_the_original(held):
    original = bytes(held.raw)
    outcome = moderation.decide(held.pk, "approve", "alice@example.org",
                                subject="Edited subject", body="Edited words.\n")
    held.refresh_from_db()
    assert bytes(held.raw) == original
    msg = Message.objects.get(number=outcome.number, group=held.group)
    assert msg.subject == "Edited subject" and msg.body_text.strip() == "Edited words."
    parsed = email.message_from_bytes(bytes(msg.raw.data), policy=email.policy.default)
    original_parsed = email.message_from_bytes(original, policy=email.policy.default)
    assert parsed["Message-ID"] == original_parsed["Message-ID"]
    assert parsed["From"] == original_parsed["From"]


def test_edit_is_refused_on_a_rejection_and_when_empty(held):
    with pytest.raises(moderation.ModerationError):
        moderation.decide(held.pk, "reject", "alice@example.org", subject="x", body="y")
    with pytest.raises(heldedit.EditError) as exc:
        moderation.decide(held.pk, "approve", "alice@example.org", subject=" ", body="y")
    assert exc.value.field == "subject"
    held.refresh_from_db()
    assert held.state == "pending"


def test_discard_sends_nothing_and_a_second_decision_is_refused(held):
    before = len(queued("bob@example.org"))
    assert moderation.decide(held.pk, "discard", "alice@example.org").kind == "dropped"
    assert len(queued("bob@example.org")) == before
    with pytest.raises(moderation.ModerationError, match="already discarded"):
        moderation.decide(held.pk, "approve", "alice@example.org")


def test_approve_unmoderate_overrides_the_senders_moderation(held):
    moderation.decide(held.pk, "approve_unmoderate", "alice@example.org")
    assert Membership.objects.get(email="bob@example.org").posting_status == "override"
    again = deliver("bob@example.org", f"demo@{DOMAIN}",
                    mail("member_post.eml").replace(b"Message-ID: <", b"Message-ID: <2"))
    assert again.kind == "accepted"


def test_heldedit_keeps_attachments_and_drops_the_html():
    raw = (b"From: Bob <bob@example.org>\r\nTo: demo@example.test\r\nSubject: old\r\n"
           b"Message-ID: <m1@example.org>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
           b"Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n"
           b"Content-Type: text/plain\r\n\r\nold text\r\n--b2\r\nContent-Type: text/html\r\n\r\n"
           b"<p>old text</p>\r\n--b2--\r\n--b1\r\nContent-Type: application/pdf\r\n"
           b"Content-Disposition: attachment; filename=a.pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b1--\r\n")
    out = email.message_from_bytes(heldedit.edited_message(raw, "new", "new text"),
                                   policy=email.policy.default)
    assert out["Subject"] == "new" and out["Message-ID"] == "<m1@example.org>"
    assert out.get_body(preferencelist=("plain",)).get_content().rstrip() == "new text"
    assert out.get_body(preferencelist=("html",)) is None
    [att] = list(out.iter_attachments())
    assert att.get_filename() == "a.pdf" and att.get_content() == b"%PDF-"


@pytest.mark.urls("messageserver.urls")
@pytest.mark.parametrize("body, status, field", [
    ({"action": "approve", "subject": "only a subject"}, 422, "body"),
    ({"action": "approve", "subject": "", "body": "text"}, 422, "subject"),
    ({"action": "approve", "subject": 3, "body": "text"}, 422, "subject"),
    ({"action": "publish"}, 422, "action"),
    ({"action": "reject", "subject": "s", "body": "b"}, 409, None),
])
def test_the_moderation_api_names_the_bad_field(held, body, status, field):
    from django.test import Client

    from platformcore.env import get_env

    response = Client().post(f"/v1/moderation/{held.pk}", {"moderator": "alice@example.org",
                                                            **body},
                             content_type="application/json",
                             headers={"Authorization": f"Bearer {get_env().internal_api_token}"})
    assert response.status_code == status, response.content
    if field:
        assert field in response.json()["fields"]
    held.refresh_from_db()
    assert held.state == "pending"


def test_every_decision_is_in_the_activity_log(held):
    from datetime import timedelta

    from django.utils import timezone

    from groups.models import ActivityEntry

    moderation.decide(held.pk, "discard", "alice@example.org")
    again = deliver("bob@example.org", f"demo@{DOMAIN}",
                    mail("member_post.eml").replace(b"Message-ID: <", b"Message-ID: <3"))
    HeldMessage.objects.filter(pk=again.held_id).update(expires_at=timezone.now()
                                                        - timedelta(minutes=1))
    assert moderation.expire_due() == 1
    log = list(ActivityEntry.objects.filter(verb__in=["discard_message", "expire_message"])
               .order_by("id").values_list("actor", "verb", "target"))
    assert log == [("alice@example.org", "discard_message", "bob@example.org"),
                   ("system", "expire_message", "bob@example.org")]
