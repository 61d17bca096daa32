"""Members editing their own posts from the web (#17 item 3), through the real messageserver.

The rule (messageserver.edits.refusal): the author only, within the group's
edit window; the archive shows the new version, "Edited" and the earlier
versions; search finds the new words; a correction goes to members on
individual delivery only when the group asks for it.
"""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import ActivityEntry, Group, Membership, Message, MessageRevision, OutboxItem
from messageserver.edits import EDITED_MARK
from tests.conftest import built_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def posted(group, clients, messageserver) -> Message:
    """bob's Markdown post, sent through the website."""
    response = clients["bob"].post(reverse("new_topic", args=["hikers"]), {
        "subject": "Saturday plan", "text_format": "markdown",
        "body": "We meet at **nine** by the oak."})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Message.objects.get(subject="Saturday plan")


def edit_url(msg: Message) -> str:
    return reverse("edit_message", args=["hikers", msg.number])


def page_of(client, msg: Message) -> str:
    return client.get(reverse("message", args=["hikers", msg.number])).content.decode()


def _edit(client, msg: Message, body: str = "We meet at **ten** by the quarry.", **extra):
    return client.post(edit_url(msg), {"subject": "Saturday plan (new time)",
                                       "text_format": "markdown", "body": body, **extra})


def test_the_author_edits_within_the_window_and_the_archive_shows_it(posted, clients):
    assert f'href="{edit_url(posted)}">Edit</a>' in page_of(clients["bob"], posted)
    form = clients["bob"].get(edit_url(posted)).content.decode()
    assert "We meet at **nine** by the oak." in form and 'value="markdown" ' in form
    response = _edit(clients["bob"], posted)
    assert response.status_code == 302
    assert response["Location"] == reverse("message", args=["hikers", posted.number])
    posted.refresh_from_db()
    assert posted.subject == "Saturday plan (new time)" and posted.edited_at is not None
    assert posted.body_html == "<p>We meet at <strong>ten</strong> by the quarry.</p>"
    page = page_of(clients["anon"], posted)
    assert "<strong>ten</strong>" in page and "nine" not in page and "Edited " in page
    # the earlier version is kept and shown on the history page
    [old] = MessageRevision.objects.filter(message=posted)
    assert old.subject == "Saturday plan" and "**nine**" in old.body_text
    history = clients["anon"].get(reverse("message_history", args=["hikers", posted.number]))
    text = history.content.decode()
    assert history.status_code == 200
    assert "<strong>nine</strong>" in text and "<strong>ten</strong>" in text
    assert ActivityEntry.objects.filter(verb="edit_message", actor="bob@example.org").exists()
    # nothing mailed: the group did not ask for corrections
    built_jobs()
    assert OutboxItem.objects.filter(kind="job").count() == 1


def test_search_finds_the_new_words_not_the_old(posted, clients):
    _edit(clients["bob"], posted, body="Bring crampons for the glacier.")
    def hits(word):
        page = clients["bob"].get(reverse("search"), {"q": word}).content.decode()
        return page[page.index('id="result-count"'):]
    assert "Saturday plan" in hits("crampons")
    assert "Saturday plan" not in hits("oak")


def test_preview_of_an_edit_changes_nothing(posted, clients):
    response = _edit(clients["bob"], posted, preview="1")
    assert response.status_code == 200 and "<strong>ten</strong>" in response.content.decode()
    posted.refresh_from_db()
    assert posted.edited_at is None and not MessageRevision.objects.exists()


def test_after_the_window_the_edit_is_refused_with_a_reason(posted, clients):
    Message.objects.filter(pk=posted.pk).update(
        created_at=timezone.now() - timedelta(minutes=posted.group.edit_window_minutes + 1))
    assert "Edit</a>" not in page_of(clients["bob"], posted)
    for response in (clients["bob"].get(edit_url(posted)), _edit(clients["bob"], posted)):
        assert response.status_code == 403
        assert "The time to edit this message is over" in response.content.decode()
    posted.refresh_from_db()
    assert posted.edited_at is None and "nine" in posted.body_text


def test_a_group_that_allows_no_edits_offers_none(posted, clients):
    Group.objects.filter(pk=posted.group_id).update(edit_window_minutes=0)
    assert "Edit</a>" not in page_of(clients["bob"], posted)
    response = _edit(clients["bob"], posted)
    assert response.status_code == 403
    assert "Members can&#x27;t edit their messages in this group." in response.content.decode()


@pytest.mark.parametrize("who", ["alice", "mona", "charlie"])
def test_nobody_but_the_author_may_edit(posted, clients, who):
    """Not even the owner or a moderator: they have archive management, not members' words."""
    assert "Edit</a>" not in page_of(clients[who], posted)
    assert clients[who].get(edit_url(posted)).status_code == 404
    assert _edit(clients[who], posted).status_code == 404
    posted.refresh_from_db()
    assert posted.edited_at is None


def test_anonymous_visitors_are_sent_to_log_in(posted, clients):
    response = _edit(clients["anon"], posted)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_messageserver_refuses_an_edit_by_someone_else_too(posted, clients, messageserver):
    """The rule is messageserver's, not the page's: its API says no by itself."""
    from messageserver.client import MessageServerClient, MessageServerError

    with pytest.raises(MessageServerError) as refused:
        MessageServerClient().edit("hikers", posted.number, "mona@example.org", "x", "y")
    assert refused.value.status == 403
    assert "Only the author" in refused.value.body["reason"]


def test_an_empty_edit_is_a_form_error(posted, clients):
    response = _edit(clients["bob"], posted, body="   ")
    assert response.status_code == 400 and "This field is required" in response.content.decode()


def test_corrections_go_to_individual_members_as_a_reply_when_the_group_asks(
        posted, clients, people):
    Group.objects.filter(pk=posted.group_id).update(send_edits=True)
    digest = Membership.objects.create(group=posted.group, email="dora@example.net",
                                       delivery=Membership.Delivery.DIGEST)
    built_jobs()  # the post's own jobs
    before = set(OutboxItem.objects.values_list("pk", flat=True))
    assert _edit(clients["bob"], posted).status_code == 302
    built_jobs()
    [item] = OutboxItem.objects.exclude(pk__in=before).filter(kind="job")
    job = item.payload
    rcpts = {r["address"] for r in job["recipients"]}
    assert "alice@example.org" in rcpts and digest.email not in rcpts
    assert dict(map(tuple, job["headers"]))["Subject"] == "Re: Saturday plan (new time)"
    assert job["meta"]["kind"] == "edit" and "finished" not in job["events"]
    sent = email.message_from_bytes(base64.b64decode(job["message_b64"]),
                                    policy=email.policy.default)
    assert sent["In-Reply-To"] == posted.message_id
    assert sent.get_content_type() == "multipart/alternative"
    plain = sent.get_body(("plain",)).get_content()
    html = sent.get_body(("html",)).get_content()
    assert plain.startswith(EDITED_MARK) and "**ten**" in plain
    assert EDITED_MARK in html and "<strong>ten</strong>" in html


def test_no_correction_mail_when_the_group_does_not_ask(posted, clients):
    before = OutboxItem.objects.count()
    assert _edit(clients["bob"], posted).status_code == 302
    assert OutboxItem.objects.count() == before


def test_the_group_settings_page_offers_both_settings(group, clients):
    page = clients["alice"].get(reverse("mod_settings_section",
                                        args=["hikers", "posting"])).content.decode()
    assert "Members may edit their posts for (minutes)" in page
    assert "Send edits to members as a reply" in page


def test_topic_page_offers_edit_on_ones_own_messages_only(posted, clients):
    url = reverse("topic", args=["hikers", posted.topic_id])
    assert f'href="{edit_url(posted)}"' in clients["bob"].get(url).content.decode()
    assert f'href="{edit_url(posted)}"' not in clients["alice"].get(url).content.decode()





def test_a_member_who_left_can_no_longer_edit(posted, clients):
    Membership.objects.filter(email="bob@example.org").update(
        status=Membership.Status.UNSUBSCRIBED)
    response = _edit(clients["bob"], posted)
    assert response.status_code in (403, 404)
    posted.refresh_from_db()
    assert posted.edited_at is None


def test_an_edit_keeps_the_posts_inline_picture(group, clients, messageserver, settings,
                                                tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from groups.models import Attachment
    from tests.groups.web.test_richposts import PNG

    settings.ATTACHMENTS_DIR = tmp_path
    picture = SimpleUploadedFile("top.png", PNG, content_type="image/png")
    assert clients["bob"].post(reverse("new_topic", args=["hikers"]), {
        "subject": "Summit", "text_format": "markdown", "body": "![the top](top.png)",
        "attachments": [picture]}).status_code == 302
    msg = Message.objects.get(subject="Summit")
    assert _edit(clients["bob"], msg, body="Windy up there.\n\n![the top](top.png)"
                 ).status_code == 302
    att = Attachment.objects.get(message=msg)
    page = page_of(clients["anon"], msg)
    assert "Windy up there." in page
    assert f'<img src="{reverse("attachment", args=["hikers", att.pk, "top.png"])}"' in page
