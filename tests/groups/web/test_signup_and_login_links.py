"""Sign-up that goes back to what the person was doing, and log-in by an emailed link.

The confirmation link logs in and lands on ``next`` (a group's join page joins
on arrival); in another browser it asks for the sign-up's password first. A
login link works once, for a short while, and the request never says whether
the address has an account.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from groups import tokens
from groups.models import Membership, User, UserEmail
from tests.groups.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _link(message, path: str) -> str:
    return re.search(r"http://testserver(/" + path + r"/[^\s/]+/(?:\?\S*)?)", message.body
                     ).group(1)


def _sign_up(client: Client, email: str = "dora@example.org", next_url: str = ""):
    return client.post(reverse("signup") + (f"?next={next_url}" if next_url else ""), {
        "email": email, "display_name": "Dora", "password1": PASSWORD, "password2": PASSWORD,
        "next": next_url})


def test_signing_up_from_a_join_button_ends_logged_in_and_joined(group):
    client = Client()
    join = reverse("join", args=["hikers"])
    # the Join button of a logged-out visitor leads to the log-in page, whose Sign up
    # link carries the join page along
    login_page = client.post(join, follow=True)
    assert f'href="{reverse("signup")}?next=/g/hikers/join/"' in login_page.content.decode()
    assert _sign_up(client, next_url=join).status_code == 200
    link = _link(mail.outbox[-1], "confirm/email")
    assert "next=%2Fg%2Fhikers%2Fjoin%2F" in link
    landed = client.get(link, follow=True)
    assert [url for url, _ in landed.redirect_chain] == [join, reverse("group_home",
                                                                       args=["hikers"])]
    dora = User.objects.get(email="dora@example.org")
    assert dora.is_active and dora.email_confirmed
    assert landed.context["user"] == dora
    membership = Membership.objects.get(group=group, email="dora@example.org")
    assert membership.status == "active" and membership.user == dora
    assert "Welcome to Hikers" in landed.content.decode()


def test_the_link_in_another_browser_asks_for_the_password_then_goes_on(group):
    _sign_up(Client(), next_url=reverse("join", args=["hikers"]))
    link = _link(mail.outbox[-1], "confirm/email")
    other = Client()
    page = other.get(link)
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    assert not User.objects.get(email="dora@example.org").is_active  # a GET did nothing
    wrong = other.post(link, {"password": "not the one", "next": "/g/hikers/join/"})
    assert wrong.status_code == 400
    done = other.post(link, {"password": PASSWORD, "next": "/g/hikers/join/"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("group_home", args=["hikers"])
    assert Membership.objects.get(group=group, email="dora@example.org").status == "active"


def test_next_never_leads_off_the_site(db):
    client = Client()
    _sign_up(client, next_url="https://evil.example/")
    link = _link(mail.outbox[-1], "confirm/email")
    assert "evil" not in link
    crafted = link.split("?")[0] + "?next=https://evil.example/"
    landed = client.get(crafted)
    assert landed.status_code == 302 and landed["Location"] == reverse("my_groups")


def test_a_later_sign_up_over_the_address_voids_the_first_browsers_shortcut(db):
    first = Client()
    _sign_up(first)
    link = _link(mail.outbox[-1], "confirm/email")
    Client().post(reverse("signup"), {"email": "dora@example.org", "display_name": "Other",
                                      "password1": "another secret 99",
                                      "password2": "another secret 99"})
    page = first.get(link)
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    assert not User.objects.get(email="dora@example.org").is_active


def test_default_delivery_applies_when_joining_on_the_web(group, clients, people):
    User.objects.filter(pk=people["charlie"].pk).update(default_delivery="digest")
    clients["charlie"].post(reverse("join", args=["hikers"]))
    assert Membership.objects.get(group=group, email="charlie@example.org").delivery == "digest"


def _ask_link(client: Client, email: str, next_url: str = ""):
    return client.post(reverse("login_link_request"), {"email": email, "next": next_url})


def test_log_in_by_an_emailed_link_once(group, people):
    page = Client().get(reverse("login"))
    assert "Email me a login link" in page.content.decode()
    client = Client()
    answer = _ask_link(client, "BOB@example.org", "/g/hikers/")
    assert answer.status_code == 200 and "login link is on its way" in answer.content.decode()
    assert mail.outbox[-1].to == ["bob@example.org"]
    link = _link(mail.outbox[-1], "login")
    shown = client.get(link)  # a mail scanner's GET logs nobody in
    assert shown.status_code == 200 and "Log in as bob@example.org" in shown.content.decode()
    assert "_auth_user_id" not in client.session
    done = client.post(link, {"next": "/g/hikers/"})
    assert done.status_code == 302 and done["Location"] == "/g/hikers/"
    assert int(client.session["_auth_user_id"]) == people["bob"].pk
    again = Client().post(link)
    assert again.status_code == 400 and "used already" in again.content.decode()


def test_a_login_link_from_a_further_verified_address(people):
    UserEmail.objects.create(user=people["bob"], email="bob@home.example", verified=True)
    UserEmail.objects.create(user=people["bob"], email="bob@unverified.example")
    _ask_link(Client(), "bob@home.example")
    assert mail.outbox[-1].to == ["bob@home.example"]
    count = len(mail.outbox)
    _ask_link(Client(), "bob@unverified.example")
    assert len(mail.outbox) == count  # an unverified address gets nothing


def test_a_login_link_request_never_says_whether_the_address_exists(people):
    known = _ask_link(Client(REMOTE_ADDR="10.0.0.1"), "bob@example.org")
    unknown = _ask_link(Client(REMOTE_ADDR="10.0.0.2"), "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert known.content.decode().replace("bob@example.org", "X") == (
        unknown.content.decode().replace("nobody@example.org", "X"))
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]


def test_an_expired_or_altered_login_link_is_refused(people, monkeypatch):
    _ask_link(Client(), "bob@example.org")
    link = _link(mail.outbox[-1], "login")
    token = link.split("/")[2]
    altered = reverse("login_link", args=[token[:-1] + ("0" if token[-1] != "0" else "1")])
    assert Client().post(altered).status_code == 400
    import time as time_module

    later = time_module.time() + 16 * 60
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    expired = Client().post(link)
    assert expired.status_code == 400 and "expired" in expired.content.decode()


def test_a_password_log_in_kills_an_earlier_login_link(people):
    _ask_link(Client(), "bob@example.org")
    link = _link(mail.outbox[-1], "login")
    assert Client().post(reverse("login"), {"username": "bob@example.org",
                                            "password": PASSWORD}).status_code == 302
    assert Client().post(link).status_code == 400


def test_login_links_are_rate_limited_like_resets(people):
    client = Client(REMOTE_ADDR="10.1.1.1")
    codes = [_ask_link(client, "bob@example.org").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert len(mail.outbox) == 3
    bad = _ask_link(Client(), "not an address")
    assert bad.status_code == 400 and 'id="id_email_error"' in bad.content.decode()


def test_a_visitor_can_create_an_account_straight_from_the_group(group):
    page = Client().get(reverse("group_home", args=["hikers"])).content.decode()
    assert f'href="{reverse("signup")}?next=/g/hikers/join/"' in page
    assert "Create an account to join" in page
