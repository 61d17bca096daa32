"""Accounts a stranger can neither probe, block, take over nor lock (#22 item 5).

Sign-up answers alike for every address; an unconfirmed sign-up blocks the
address's owner from nothing and its password dies when the owner resets or
signs up; log-in failures slow the guesser (by client, by account and client)
and never lock the owner out; a password change ends every other session.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from groups import ratelimit
from groups.models import Membership, User
from tests.groups.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db

STRANGER_PW = "the strangers own secret 1"
OWNER_PW = "the owners own secret 22"


def _signup(client: Client, email: str, password: str, name: str = "Someone"):
    return client.post(reverse("signup"), {"email": email, "display_name": name,
                                           "password1": password, "password2": password})


def _link(message, pattern: str) -> str:
    return re.search(r"http://testserver(" + pattern + r")", message.body).group(1)


def _reset(client: Client, email: str, new_password: str):
    assert client.post(reverse("password_reset"), {"email": email}).status_code == 302
    url = _link(mail.outbox[-1], r"/accounts/password-reset/\S+/")
    form_url = client.get(url, follow=True).redirect_chain[-1][0]
    return client.post(form_url, {"new_password1": new_password,
                                  "new_password2": new_password})


def _logs_in(email: str, password: str) -> bool:
    response = Client(REMOTE_ADDR="10.9.9.9").post(reverse("login"), {"username": email,
                                                                      "password": password})
    return response.status_code == 302


def test_signup_answers_the_same_for_an_existing_address_and_mails_its_owner(people):
    new = _signup(Client(), "newcomer@example.org", OWNER_PW)
    existing = _signup(Client(), "bob@example.org", OWNER_PW)
    assert new.status_code == existing.status_code == 200

    def page(r) -> str:
        return r.content.decode().replace("newcomer@example.org", "X").replace(
            "bob@example.org", "X")

    assert page(new) == page(existing)
    assert "exists" not in existing.content.decode()
    to_bob = [m for m in mail.outbox if m.to == ["bob@example.org"]]
    assert [m.subject for m in to_bob] == ["You already have an account"]
    assert "/accounts/password-reset/" in to_bob[0].body
    assert User.objects.get(email="bob@example.org").check_password(PASSWORD)  # unchanged


def test_the_owner_clicking_a_strangers_confirmation_cannot_let_the_stranger_in(db):
    _signup(Client(), "owner@example.org", STRANGER_PW, "Stranger")
    link = _link(mail.outbox[-1], r"/confirm/email/\S+/")
    # the owner follows the link from their mailbox; without the stranger's password
    # the account is not activated
    owner = Client()
    refused = owner.post(link, {"password": OWNER_PW})
    assert refused.status_code == 400 and "choose a new password" in refused.content.decode()
    assert not User.objects.get(email="owner@example.org").is_active
    assert not _logs_in("owner@example.org", STRANGER_PW)


def test_an_unconfirmed_signup_blocks_no_reset_and_its_password_dies(group):
    Membership.objects.create(group=group, email="owner@example.org")
    _signup(Client(), "owner@example.org", STRANGER_PW, "Stranger")
    assert _reset(Client(), "owner@example.org", OWNER_PW).status_code == 302
    user = User.objects.get(email="owner@example.org")
    assert user.is_active and user.email_confirmed
    assert Membership.objects.get(email="owner@example.org").user == user
    assert _logs_in("owner@example.org", OWNER_PW)
    assert not _logs_in("owner@example.org", STRANGER_PW)


def test_the_owner_can_sign_up_over_a_strangers_unconfirmed_signup(db):
    _signup(Client(), "owner@example.org", STRANGER_PW, "Stranger")
    response = _signup(Client(), "owner@example.org", OWNER_PW, "Owner")
    assert response.status_code == 200
    link = _link(mail.outbox[-1], r"/confirm/email/\S+/")
    assert Client().post(link, {"password": OWNER_PW}).status_code == 302
    assert _logs_in("owner@example.org", OWNER_PW)
    assert not _logs_in("owner@example.org", STRANGER_PW)
    assert User.objects.get(email="owner@example.org").display_name == "Owner"


def _fail(ip: str, name: str = "bob@example.org") -> str:
    response = Client(REMOTE_ADDR=ip).post(reverse("login"), {"username": name,
                                                              "password": "wrong guess"})
    return response.content.decode()


def test_failed_logins_slow_the_guesser_with_growing_delays_not_the_owner(people, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(ratelimit, "now", lambda: clock[0])
    free = ratelimit.LOGIN_BY_ACCOUNT_AND_CLIENT.free
    for _ in range(free):
        assert "Too many" not in _fail("10.0.0.66")
    waits = []
    for _ in range(4):
        assert "Too many" not in _fail("10.0.0.66")  # this failure starts a wait
        page = _fail("10.0.0.66")  # refused during the wait, uncounted
        waits.append(int(re.search(r"wait (\d+) seconds", page).group(1)))
        clock[0] += waits[-1]
    assert waits == [2, 4, 8, 16]
    # the owner, from their own client, logs in at once: nobody can lock them out
    assert _logs_in("bob@example.org", PASSWORD)
    # and the guesser, even with the right password, waits
    clock[0] += 0  # still within the last wait
    _fail("10.0.0.66")
    right = Client(REMOTE_ADDR="10.0.0.66").post(reverse("login"), {
        "username": "bob@example.org", "password": PASSWORD})
    assert right.status_code == 200 and "Too many failed attempts" in right.content.decode()


def test_a_distributed_guess_slows_the_account_by_seconds_only(people, monkeypatch):
    clock = [2_000_000.0]
    monkeypatch.setattr(ratelimit, "now", lambda: clock[0])
    for i in range(ratelimit.LOGIN_BY_ACCOUNT.free + 10):
        _fail(f"10.1.{i // 200}.{i % 200}")
    assert ratelimit.wait_seconds("login-account", "bob") <= ratelimit.LOGIN_BY_ACCOUNT.longest
    clock[0] += ratelimit.LOGIN_BY_ACCOUNT.longest
    assert _logs_in("bob@example.org", PASSWORD)


def test_a_password_change_keeps_this_session_and_ends_all_others(people):
    here, elsewhere = Client(), Client()
    for client in (here, elsewhere):
        assert client.post(reverse("login"), {"username": "bob@example.org",
                                              "password": PASSWORD}).status_code == 302
    response = here.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": OWNER_PW, "new_password2": OWNER_PW})
    assert response.status_code == 302
    assert here.get(reverse("profile")).status_code == 200
    assert elsewhere.get(reverse("profile")).status_code == 302  # logged out


def test_a_password_reset_ends_every_session(people):
    session = Client()
    session.post(reverse("login"), {"username": "bob@example.org", "password": PASSWORD})
    assert session.get(reverse("profile")).status_code == 200
    _reset(Client(), "bob@example.org", OWNER_PW)
    assert session.get(reverse("profile")).status_code == 302


def test_a_strangers_reset_requests_never_block_the_owners(people):
    stranger = Client(REMOTE_ADDR="10.6.6.6")
    for _ in range(5):
        stranger.post(reverse("password_reset"), {"email": "bob@example.org"})
    assert "Too many attempts" in stranger.post(
        reverse("password_reset"), {"email": "bob@example.org"}).content.decode()
    sent = len(mail.outbox)
    owner = Client(REMOTE_ADDR="10.7.7.7")
    assert owner.post(reverse("password_reset"), {"email": "bob@example.org"}).status_code == 302
    assert len(mail.outbox) == sent + 1


def test_a_strangers_sign_ups_never_block_the_owners(db):
    stranger = Client(REMOTE_ADDR="10.6.6.6")
    codes = [_signup(stranger, "owner@example.org", STRANGER_PW).status_code
             for _ in range(6)]
    assert codes[-1] == 429
    owner = Client(REMOTE_ADDR="10.7.7.7")
    assert _signup(owner, "owner@example.org", OWNER_PW).status_code == 200
