"""Accounts: sign-up with email confirmation, log-in by address, reset, profile, limits."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from groups.models import Membership, User
from tests.groups.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {"email": "Dora@Example.org", "display_name": "Dora", "password1": PASSWORD,
          "password2": PASSWORD}


def test_signup_confirm_then_login(group):
    Membership.objects.create(group=group, email="dora@example.org")  # added by address before
    client = Client()
    response = client.post(reverse("signup"), SIGNUP)
    assert response.status_code == 200 and "dora@example.org" in response.content.decode()
    user = User.objects.get(email="dora@example.org")
    assert not user.is_active and not user.email_confirmed
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dora@example.org"]
    assert not client.login(username="dora@example.org", password=PASSWORD)
    url = re.search(r"http://testserver(/confirm/email/\S+/)", mail.outbox[0].body).group(1)
    client.post(url, {"password": PASSWORD})
    user.refresh_from_db()
    assert user.is_active and user.email_confirmed
    assert Membership.objects.get(email="dora@example.org").user == user
    response = client.post(reverse("login"), {"username": "DORA@example.org",
                                              "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("my_groups")
    assert "hikers" in client.get(reverse("my_groups")).content.decode()


def test_signup_errors_are_tied_to_fields(people):
    response = Client().post(reverse("signup"), {**SIGNUP, "email": "not an address",
                                                 "password2": "different"})
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_email_error"' in page
    assert 'id="id_password2_error"' in page and 'aria-invalid="true"' in page
    assert not mail.outbox


def test_signup_is_rate_limited(db):
    client = Client()
    codes = [client.post(reverse("signup"), {**SIGNUP, "email": f"x{i}@example.org"}
                         ).status_code for i in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert User.objects.count() == 5


def test_a_guesser_waits_even_with_the_right_password(people):
    client = Client()
    for _ in range(10):
        client.post(reverse("login"), {"username": "bob@example.org", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "bob@example.org",
                                              "password": PASSWORD})
    assert response.status_code == 200 and "Too many failed attempts" in (
        response.content.decode())


def test_password_reset_by_mail(people):
    client = Client()
    response = client.post(reverse("password_reset"), {"email": "bob@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    url = re.search(r"https?://[^/\s]+(/accounts/password-reset/\S+/)", mail.outbox[0].body
                    ).group(1)
    page = client.get(url, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else url
    done = client.post(form_url, {"new_password1": "a brand new secret 42",
                                  "new_password2": "a brand new secret 42"})
    assert done.status_code == 302
    assert Client().login(username="bob", password="a brand new secret 42")


def test_password_reset_is_rate_limited_per_address(people):
    client = Client()
    for _ in range(3):
        client.post(reverse("password_reset"), {"email": "bob@example.org"})
    response = client.post(reverse("password_reset"), {"email": "bob@example.org"})
    assert response.status_code == 200 and "Too many attempts" in response.content.decode()
    assert len(mail.outbox) == 3


def test_profile(clients, people):
    assert clients["anon"].get(reverse("profile")).status_code == 302
    response = clients["bob"].post(reverse("profile"), {
        "display_name": "Bobby", "time_zone": "Europe/Paris", "digest_hour": 7})
    assert response.status_code == 302
    bob = User.objects.get(username="bob")
    assert (bob.display_name, bob.time_zone, bob.digest_hour) == ("Bobby", "Europe/Paris", 7)
    bad = clients["bob"].post(reverse("profile"), {
        "display_name": "Bobby", "time_zone": "Mars/Olympus", "digest_hour": 30})
    assert bad.status_code == 400


def test_logout_needs_post(clients):
    assert clients["bob"].post(reverse("logout")).status_code == 302
    assert clients["bob"].get(reverse("my_groups")).status_code == 302
