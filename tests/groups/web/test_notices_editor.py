"""The notices editor: every notice, its variables, the preview through notices.render,
saving (the next mail uses it), reset to the default, and who may."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest
from django.urls import reverse

from groups.models import NoticeTemplate, OutboxItem
from groups.web.noticeeditor import KINDS

pytestmark = pytest.mark.django_db
KIND_NAMES = ["welcome", "goodbye", "pending", "declined", "held", "rejected", "guidelines",
              "restored"]


def edit_url(kind: str) -> str:
    return reverse("mod_notice", args=["hikers", kind])


def last_mail_to(address: str) -> email.message.EmailMessage:
    for item in OutboxItem.objects.order_by("-pk"):
        if address in [r["address"] for r in item.payload["recipients"]]:
            return email.message_from_bytes(base64.b64decode(item.payload["message_b64"]),
                                            policy=email.policy.default)
    raise AssertionError(f"no mail to {address}")


def test_every_notice_is_listed(group, clients):
    assert sorted(KINDS) == sorted(KIND_NAMES)
    page = clients["alice"].get(reverse("mod_notices", args=["hikers"])).content.decode()
    for info in KINDS.values():
        assert edit_url(info.kind) in page and str(info.label) in page


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_each_notice_shows_its_default_its_variables_and_a_sample_preview(group, clients,
                                                                        kind):
    response = clients["alice"].get(edit_url(kind))
    assert response.status_code == 200
    page = response.content.decode()
    for name in KINDS[kind].variables:
        assert "{{ " + name + " }}" in page
    assert response.context["form"]["subject"].value().startswith("[{{ group.name }}]")
    assert response.context["preview_subject"].startswith("[hikers]")
    assert "{{" not in response.context["preview_body"]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_only_owners_edit_notices(group, clients, kind):
    assert clients["anon"].get(edit_url(kind)).status_code == 302
    for who in ("charlie", "bob", "mona"):
        assert clients[who].get(edit_url(kind)).status_code == 404
        assert clients[who].post(edit_url(kind), {"subject": "s", "body": "b"}).status_code \
            == 404
    assert not NoticeTemplate.objects.exists()


def test_saved_welcome_is_the_next_welcome_mail_and_reset_restores_the_default(group,
                                                                              clients):
    saved = clients["alice"].post(edit_url("welcome"), {
        "subject": "Hello from {{ group.display_title }}",
        "body": "Dear {{ membership.name }}, write to {{ post_address }}."})
    assert saved.status_code == 302
    clients["charlie"].post(reverse("join", args=["hikers"]))
    mail = last_mail_to("charlie@example.org")
    assert str(mail["Subject"]) == "Hello from Hikers"
    assert "Dear Charlie, write to hikers@" in mail.get_content()
    clients["alice"].post(edit_url("welcome"), {"action": "reset"})
    assert not NoticeTemplate.objects.filter(kind="welcome").exists()
    clients["charlie"].post(reverse("leave", args=["hikers"]))
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert str(last_mail_to("charlie@example.org")["Subject"]) == "[hikers] Welcome to Hikers"


def test_live_preview_uses_the_sample_member(group, clients):
    url = reverse("mod_notice_preview", args=["hikers", "declined"])
    ok = clients["alice"].post(url, {"subject": "No, {{ membership.name }}",
                                     "body": "{{ reason }}"}).json()
    assert ok == {"subject": "No, Alex Example", "body": "An example reason.\n"}
    assert clients["mona"].post(url, {"subject": "s", "body": "b"}).status_code == 404


@pytest.mark.parametrize("field,subject,body,error", [
    ("subject", "", "text", "This field is required."),
    ("body", "Hi", "", "This field is required."),
    ("subject", "a\nb", "text", "one line"),
    ("body", "Hi", "{% if %}", "doesn't parse"),
    ("body", "Hi", "{{ membership.user.password }}", "not one of this notice's variables"),
    ("body", "Hi", "{% load static %}", "not allowed in notices"),
    ("body", "Hi", "{% include 'email/welcome.txt' %}", "not allowed in notices"),
    ("subject", "{{ group.name|safe }}", "x", "filter |safe is not allowed"),
    ("body", "Hi", "{{ reason }}", "not one of this notice's variables"),  # welcome has none
    ("body", "Hi", "{{ guidelines|default:membership.user.password }}",
     "not one of this notice's variables"),
    ("body", "Hi", "{% if membership.user.is_staff %}x{% endif %}",
     "not one of this notice's variables"),
])
def test_bad_wording_names_the_field(group, clients, field, subject, body, error):
    response = clients["alice"].post(edit_url("welcome"), {"subject": subject, "body": body})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and error in " ".join(errors[field]), errors
    assert not NoticeTemplate.objects.exists()
    preview = clients["alice"].post(reverse("mod_notice_preview", args=["hikers", "welcome"]),
                                    {"subject": subject or "s", "body": body or "b"})
    if field == "body" and body:
        assert preview.status_code == 400 and preview.json()["field"] == "body"


def test_unknown_notice_is_not_found(group, clients):
    assert clients["alice"].get(edit_url("help")).status_code == 404
