"""The inbound webhook: SendGrid raw mode and Mailgun body-mime, authenticated, into the
same pipeline as smtpd; wrong or missing credentials refused with JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.test import Client

from groups.models import Message
from tests.conftest import mail
from tests.messageserver.rules.conftest import DOMAIN

pytestmark = pytest.mark.urls("messageserver.urls")
SECRET = "hook-secret-0123456789"
URL = "/inbound/webhook"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch):
    monkeypatch.setenv("INBOUND_WEBHOOK_SECRET", SECRET)


def sendgrid_form(raw: bytes, to: str = f"demo@{DOMAIN}",
                  mail_from: str = "bob@example.org") -> dict:
    return {"email": raw.decode("utf-8"), "envelope": json.dumps({"to": [to], "from": mail_from}),
            "to": to, "from": mail_from, "charsets": json.dumps({"email": "utf-8"})}


def mailgun_form(raw: bytes, key: str = SECRET, timestamp: int | None = None,
                 token: str = "tok-1") -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return {"body-mime": raw.decode("utf-8"), "recipient": f"demo@{DOMAIN}",
            "sender": "bob@example.org", "timestamp": ts, "token": token, "signature": sig}


def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(
        f"sendgrid:{password}".encode()).decode()}


def test_sendgrid_raw_post_with_basic_auth_is_posted(demo_group):
    response = Client().post(URL, sendgrid_form(mail("member_post.eml")), headers=basic(SECRET))
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["outcome"] == "accepted" and result["rcpt"] == f"demo@{DOMAIN}"
    message = Message.objects.get()
    assert bytes(message.raw.data) == mail("member_post.eml")  # the MIME arrives byte for byte


def test_key_in_the_url_is_enough(demo_group):
    response = Client().post(f"{URL}?key={SECRET}", sendgrid_form(mail("member_post.eml")))
    assert response.status_code == 200 and Message.objects.count() == 1


def test_mailgun_signed_post_is_posted_once(demo_group):
    form = mailgun_form(mail("member_post.eml"))
    response = Client().post(URL, form)
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["outcome"] == "accepted"
    replay = Client().post(URL, form)
    assert replay.status_code == 403 and "error" in replay.json()
    assert Message.objects.count() == 1


@pytest.mark.parametrize("form,headers,url", [
    (lambda: mailgun_form(mail("member_post.eml"), key="wrong-key"), {}, URL),
    (lambda: mailgun_form(mail("member_post.eml"), timestamp=int(time.time()) - 3600), {}, URL),
    (lambda: sendgrid_form(mail("member_post.eml")), basic("wrong"), URL),
    (lambda: sendgrid_form(mail("member_post.eml")), {}, URL + "?key=wrong"),
])
def test_wrong_signature_or_secret_is_refused(demo_group, form, headers, url):
    response = Client().post(url, form(), headers=headers)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json" and "error" in response.json()
    assert not Message.objects.exists()


def test_no_credentials_is_401_with_a_challenge(demo_group):
    response = Client().post(URL, sendgrid_form(mail("member_post.eml")))
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic")
    assert "error" in response.json()


def test_webhook_is_off_without_a_secret(demo_group, monkeypatch):
    monkeypatch.delenv("INBOUND_WEBHOOK_SECRET")
    response = Client().post(URL, sendgrid_form(mail("member_post.eml")), headers=basic(""))
    assert response.status_code == 404 and "INBOUND_WEBHOOK_SECRET" in response.json()["error"]


def test_malformed_posts_get_clear_errors(demo_group):
    client = Client()
    no_mail = client.post(URL, {"envelope": json.dumps({"to": ["demo@" + DOMAIN]})},
                          headers=basic(SECRET))
    assert no_mail.status_code == 400 and "body-mime" in no_mail.json()["error"]
    bad_env = client.post(URL, {"email": "From: a@b\r\n\r\nx", "envelope": "{not json"},
                          headers=basic(SECRET))
    assert bad_env.status_code == 400 and "envelope" in bad_env.json()["error"]
    as_json = client.post(URL, {"email": "x"}, content_type="application/json",
                          headers=basic(SECRET))
    assert as_json.status_code == 400 and "multipart" in as_json.json()["error"]


def test_webhook_mail_follows_the_same_rules(demo_group):
    """A non-member's post is refused exactly as over SMTP; the provider is told with 200
    (retrying would not change the answer), the outcome in the body."""
    form = sendgrid_form(mail("nonmember_post.eml"), mail_from="charlie@example.net")
    response = Client().post(URL, form, headers=basic(SECRET))
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["outcome"] == "rejected" and "not a member" in result["reason"]


@pytest.mark.parametrize("mail_from", ["<>", "", "  "])
def test_null_sender_by_webhook_is_the_null_sender(demo_group, mail_from):
    """SendGrid passes the null reverse-path as "<>" or "": one form, so no rule misses it."""
    raw = mail("member_post.eml").replace(b"Message-ID: <first-post@example.org>\r\n", b"")
    response = Client().post(URL, sendgrid_form(raw, mail_from=mail_from), headers=basic(SECRET))
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["outcome"] == "dropped" and "empty envelope sender" in result["reason"]
    assert not Message.objects.exists()
