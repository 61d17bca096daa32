"""Messages refused as a whole (#15 items 7-10): empty, NUL bytes, MIME too deep or too
many parts, and one post per transaction however often the group is named.

Run on SQLite and again in the PostgreSQL pass (tests/messageserver is in PG_TESTS),
where a NUL in a text column is a DataError: the refusal must come first.
"""

from __future__ import annotations

import base64
import email
import email.policy

import pytest

from groups.models import Attachment, Message, OutboxItem
from messageserver import acceptance, pipeline
from tests.conftest import built_jobs, mail

POST = "demo@groups.localhost"


def nested_multipart(levels: int) -> bytes:
    body = b"hi\r\n"
    for i in range(levels):
        b = b"b%d" % i
        body = (b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n"
                + body + b"\r\n--" + b + b"--\r\n")
    return (b"From: Bob Member <bob@example.org>\r\nTo: demo@groups.localhost\r\n"
            b"Subject: deep\r\nMIME-Version: 1.0\r\n" + body)


def nested_messages(levels: int) -> bytes:
    inner = b"From: bob@example.org\r\nSubject: innermost\r\n\r\nhi\r\n"
    for i in range(levels):
        inner = (b"From: Bob Member <bob@example.org>\r\nTo: demo@groups.localhost\r\n"
                 b"Subject: level %d\r\nMIME-Version: 1.0\r\n"
                 b"Content-Type: message/rfc822\r\n\r\n" % i) + inner
    return inner


def many_attached_messages(count: int) -> bytes:
    parts = [b"--sep\r\nContent-Type: text/plain\r\n\r\nSee the attached.\r\n"]
    parts += [b"--sep\r\nContent-Type: message/rfc822\r\n\r\nSubject: %d\r\n\r\nx\r\n" % i
              for i in range(count)]
    return (b"From: Bob Member <bob@example.org>\r\nTo: demo@groups.localhost\r\n"
            b"Subject: many\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
            b'boundary="sep"\r\n\r\n' + b"".join(parts) + b"--sep--\r\n")


def _only(raw: bytes, rcpts: list[str] | None = None):
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", rcpts or [POST], raw)
    return outcome


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"   \r\n\r\n"])
def test_an_empty_message_is_refused(demo_group, raw):
    outcome = _only(raw)
    assert (outcome.kind, outcome.status) == ("rejected", "5.6.0")
    assert "empty" in outcome.reason
    assert not Message.objects.exists() and not OutboxItem.objects.exists()


def test_a_message_without_header_fields_is_refused(demo_group):
    outcome = _only(b"just some text, no header at all\r\n")
    assert (outcome.kind, outcome.status) == ("rejected", "5.6.0")
    assert not Message.objects.exists()


@pytest.mark.parametrize("raw, where", [
    (mail("member_post.eml").replace(b"Subject: Hello", b"Subject: Hel\x00lo"), "header"),
    (mail("member_post.eml").replace(b"first post", b"first\x00post"), "body"),
])
def test_raw_nul_bytes_are_refused_naming_the_reason(demo_group, raw, where):
    outcome = _only(raw)
    assert (outcome.kind, outcome.status) == ("rejected", "5.6.0")
    assert "NUL" in outcome.reason and where in outcome.reason
    assert not Message.objects.exists() and not OutboxItem.objects.exists()


def test_an_encoded_nul_is_archived_without_it(demo_group):
    """=00 in quoted-printable (or an encoded-word) decodes to NUL: the text columns never
    get it (PostgreSQL would raise DataError -> 451 forever), the copies keep the encoding."""
    outcome = _only(mail("qp_nul_body.eml"))
    assert outcome.kind == "accepted"
    message = Message.objects.get()
    assert message.body_text.strip() == "beforeafter"
    assert message.subject == "nulinside"
    built_jobs()
    [job] = [o.payload for o in OutboxItem.objects.filter(kind="job")]
    assert b"\x00" not in base64.b64decode(job["message_b64"])


@pytest.mark.parametrize("levels", [1000, 250, acceptance.DEFAULT_MAX_DEPTH + 1])
@pytest.mark.parametrize("build", [nested_multipart, nested_messages])
def test_mime_nested_too_deep_is_refused_not_retried(demo_group, build, levels):
    outcome = _only(build(levels))
    assert (outcome.kind, outcome.status) == ("rejected", "5.6.0")
    assert "nested" in outcome.reason and str(acceptance.DEFAULT_MAX_DEPTH) in outcome.reason
    assert not Message.objects.exists()


def test_nesting_within_the_limit_is_archived_whole(demo_group):
    raw = nested_messages(acceptance.DEFAULT_MAX_DEPTH)
    assert _only(raw).kind == "accepted"
    [att] = Attachment.objects.all()
    assert att.size > 1000  # the whole attached chain, not 0 bytes
    inner = email.message_from_bytes(raw, policy=email.policy.default)
    assert acceptance.structure(inner)[0] == acceptance.DEFAULT_MAX_DEPTH


def test_thousands_of_tiny_parts_are_refused(demo_group):
    outcome = _only(many_attached_messages(5000))
    assert (outcome.kind, outcome.status) == ("rejected", "5.3.4")
    assert "5" in outcome.reason and str(acceptance.DEFAULT_MAX_PARTS) in outcome.reason
    assert not Attachment.objects.exists() and not Message.objects.exists()


def test_limits_are_settings(demo_group, monkeypatch):
    monkeypatch.setenv("MIME_MAX_PARTS", "3")
    assert _only(many_attached_messages(3)).status == "5.3.4"
    monkeypatch.setenv("MIME_MAX_PARTS", "50")
    monkeypatch.setenv("MIME_MAX_DEPTH", "2")
    assert _only(nested_messages(3)).status == "5.6.0"


def test_one_transaction_naming_the_group_many_times_is_one_post(demo_group):
    raw = mail("member_post.eml").replace(b"Message-ID: <first-post@example.org>\r\n", b"")
    rcpts = [POST] * 25 + ["DEMO@groups.localhost", "Demo@Groups.Localhost"] * 10
    results = pipeline.handle_inbound("bob@example.org", rcpts, raw)
    assert len(results) == len(rcpts)
    assert {o.kind for _, o in results} == {"accepted"}
    assert {o.number for _, o in results} == {1}
    assert Message.objects.count() == 1
    built_jobs()
    [job] = [o.payload for o in OutboxItem.objects.filter(kind="job")]
    addresses = [r["address"] for r in job["recipients"]]
    assert sorted(addresses) == ["alice@example.org", "bob@example.org", "dora@example.org"]


@pytest.mark.parametrize("mail_from", ["<>", "", " <> "])
def test_the_null_sender_in_any_spelling_never_posts(demo_group, mail_from):
    [(_, outcome)] = pipeline.handle_inbound(mail_from, [POST], mail("null_sender_autoreply.eml"))
    assert outcome.kind == "dropped" and "empty envelope sender" in outcome.reason
    assert not Message.objects.exists()


@pytest.mark.parametrize("command", ["help", "subscribe"])
def test_the_null_sender_is_never_answered(demo_group, command):
    raw = mail("null_sender_help.eml").replace(b"demo+help@", f"demo+{command}@".encode())
    [(_, outcome)] = pipeline.handle_inbound("<>", [f"demo+{command}@groups.localhost"], raw)
    assert outcome.kind == "dropped" and "empty envelope sender" in outcome.reason
    assert not OutboxItem.objects.exists()


@pytest.mark.urls("messageserver.urls")
@pytest.mark.parametrize("field", ["subject", "text", "html"])
def test_a_web_post_with_nul_is_refused_naming_the_field(demo_group, field):
    from django.test import Client

    from platformcore.env import get_env

    payload = {"group": "demo", "sender_email": "bob@example.org", "subject": "Hi",
               "text": "hello", "html": "<p>hello</p>"}
    payload[field] = payload[field] + "\x00"
    response = Client().post("/v1/posts", payload, content_type="application/json",
                             headers={"Authorization":
                                      f"Bearer {get_env().internal_api_token}"})
    assert response.status_code == 422, response.content
    assert response.json()["fields"] == {field: "may not contain NUL characters"}
    assert not Message.objects.exists()


@pytest.mark.urls("messageserver.urls")
@pytest.mark.parametrize("raw, code", [(b"", 554), (nested_multipart(300), 554),
                                       (many_attached_messages(600), 552)])
def test_the_inbound_api_answers_the_refusal_code(demo_group, raw, code):
    from django.test import Client

    from platformcore.env import get_env

    response = Client().post("/v1/inbound", {
        "mail_from": "<>", "rcpt_tos": [POST], "data_b64": base64.b64encode(raw).decode()},
        content_type="application/json",
        headers={"Authorization": f"Bearer {get_env().internal_api_token}"})
    assert response.status_code == 200
    assert response.json()["code"] == code
