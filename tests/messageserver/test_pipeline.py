"""The pipeline without sockets: classify, permit, archive, thread, queue the fan-out."""

from __future__ import annotations

import base64
import email
import email.policy

from groups.models import Group, HeldMessage, Membership, Message, OutboxItem, Topic
from messageserver import pipeline
from tests.conftest import built_jobs, mail


def _job_for(number: int) -> dict:
    built_jobs()
    items = [o for o in OutboxItem.objects.filter(kind="job")
             if o.payload.get("meta", {}).get("number") == number]
    assert len(items) == 1
    return items[0].payload


def test_member_post_is_archived_and_fanned_out(demo_group):
    [(rcpt, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                                mail("member_post.eml"))
    assert outcome.kind == "accepted" and outcome.number == 1
    message = Message.objects.get(group=demo_group, number=1)
    assert message.subject == "Hello everyone #intro"
    assert message.membership.email == "bob@example.org"
    assert bytes(message.raw.data) == mail("member_post.eml")
    assert [t.name for t in message.topic.hashtags.all()] == ["intro"]
    job = _job_for(1)
    addresses = sorted(r["address"] for r in job["recipients"])
    assert addresses == ["alice@example.org", "bob@example.org", "dora@example.org"]
    headers = dict((k, v) for k, v in job["headers"])
    assert headers["List-Id"] == "Demo group <demo.groups.localhost>"
    assert headers["List-Post"] == "<mailto:demo@groups.localhost>"
    assert headers["Precedence"] == "list"
    for r in job["recipients"]:
        assert r["mail_from"].startswith("bounce+") and r["mail_from"].endswith(
            "@groups.localhost")
        [(name, value)] = r["headers"]
        assert name == "List-Unsubscribe" and "/unsubscribe/" in value
        assert r["vars"]["unsubscribe_url"] in value
    original = email.message_from_bytes(base64.b64decode(job["message_b64"]),
                                        policy=email.policy.default)
    assert original["Message-ID"] == "<first-post@example.org>"


def test_reply_threads_by_references_and_html_is_sanitised(demo_group):
    pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                            mail("member_post.eml"))
    [(_, outcome)] = pipeline.handle_inbound("alice@example.org", ["demo@groups.localhost"],
                                             mail("member_reply.eml"))
    assert outcome.kind == "accepted"
    first, reply = Message.objects.filter(group=demo_group).order_by("number")
    assert reply.topic_id == first.topic_id
    topic = Topic.objects.get(pk=first.topic_id)
    assert topic.message_count == 2 and topic.last_message_id == reply.id
    assert "<script>" not in reply.body_html and "<b>Bob</b>" in reply.body_html


def test_nonmember_rejected_with_reason(demo_group):
    [(_, outcome)] = pipeline.handle_inbound("charlie@example.net", ["demo@groups.localhost"],
                                             mail("nonmember_post.eml"))
    assert outcome.kind == "rejected" and outcome.status == "5.7.1"
    assert "not a member of demo" in outcome.reason
    assert not Message.objects.exists() and not OutboxItem.objects.exists()


def test_nonmember_held_when_group_says_so(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(nonmember_policy="hold")
    [(_, outcome)] = pipeline.handle_inbound("charlie@example.net", ["demo@groups.localhost"],
                                             mail("nonmember_post.eml"))
    assert outcome.kind == "held"
    held = HeldMessage.objects.get()
    assert held.nonmember and held.sender_email == "charlie@example.net"
    # the owner is told, with the message attached
    notices = [o.payload for o in OutboxItem.objects.all()]
    assert [r["address"] for n in notices for r in n["recipients"]] == ["alice@example.org"]


def test_loop_with_our_list_id_is_dropped(demo_group):
    looped = mail("member_post.eml").replace(
        b"Subject:", b"List-Id: Demo group <demo.groups.localhost>\r\nSubject:", 1)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"], looped)
    assert outcome.kind == "dropped"
    assert not Message.objects.exists()


def test_unknown_local_part_and_foreign_domain(demo_group):
    # Whether a group exists is decided at DATA (hidden groups must look missing: #22 item 8).
    assert pipeline.check_recipient("nosuchgroup@groups.localhost").kind == "accepted"
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["nosuchgroup@groups.localhost"],
                                             mail("member_post.eml"))
    assert (outcome.kind, outcome.status) == ("rejected", "5.1.1")
    # demo+bogus would be a subgroup of demo: missing, so refused at DATA, like any group
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo+bogus@groups.localhost"],
                                             mail("member_post.eml"))
    assert (outcome.kind, outcome.status) == ("rejected", "5.1.1")
    assert pipeline.check_recipient("demo+approve@groups.localhost").status == "5.1.1"
    assert pipeline.check_recipient("demo@example.com").status == "5.7.1"
    assert pipeline.check_recipient("demo@groups.localhost").kind == "accepted"


def test_banned_member_rejected_and_nomail_member_skipped(demo_group):
    Membership.objects.filter(email="dora@example.org").update(delivery="nomail")
    pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"], mail("member_post.eml"))
    assert "dora@example.org" not in [r["address"] for r in _job_for(1)["recipients"]]
    Membership.objects.filter(email="bob@example.org").update(status="banned")
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             mail("member_reply.eml").replace(
                                                 b"alice@example.org", b"bob@example.org"))
    assert outcome.kind == "rejected" and "banned" in outcome.reason
