"""Host names, the links we mail, and the browser policy on every page (#22 items 1 and 9).

The site answers only for SITE_URL's host (plus ALLOWED_HOSTS); every link in
mail is built from SITE_URL whatever Host the request carried; every page
type carries a Content-Security-Policy; under an https SITE_URL cookies are
Secure and HSTS is sent. Settings that are fixed at start-up (SITE_URL)
are checked in a fresh interpreter with the environment set, as a process
would start.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from groups import links
from groups.models import HeldMessage, Membership
from platformcore.env import SettingError, allowed_hosts
from tests.web.conftest import make_post

pytestmark = pytest.mark.django_db
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_reset_asked_with_a_forged_host_is_refused(people):
    response = Client().post(reverse("password_reset"), {"email": "bob@example.org"},
                             HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not mail.outbox


def test_the_reset_link_comes_from_site_url_even_behind_an_extra_host_name(people, settings):
    settings.ALLOWED_HOSTS = ["testserver", "alias.example"]  # ALLOWED_HOSTS=alias.example
    response = Client().post(reverse("password_reset"), {"email": "bob@example.org"},
                             HTTP_HOST="alias.example")
    assert response.status_code == 302
    [message] = mail.outbox
    assert "alias.example" not in message.body + message.subject
    assert re.search(r"^http://testserver/accounts/password-reset/\S+/\S+/$", message.body,
                     re.M), message.body


def test_allowed_hosts_are_site_urls_host_and_the_extra_names():
    assert allowed_hosts("https://lists.example.org", "") == ("lists.example.org",)
    assert allowed_hosts("https://lists.example.org:8443", " Www.Example.org, ") == (
        "lists.example.org", "www.example.org")
    with pytest.raises(SettingError, match="SITE_URL"):
        allowed_hosts("lists.example.org", "")


def test_every_link_in_every_mail_the_site_writes_names_site_url(people, group):
    """Sign-up (new and existing address), reset and an invitation, asked from an alias."""
    from django.test import override_settings

    with override_settings(ALLOWED_HOSTS=["testserver", "alias.example"]):
        anon = Client(HTTP_HOST="alias.example")
        anon.post(reverse("signup"), {"email": "new@example.org", "display_name": "New",
                                      "password1": "pw for a newcomer 1",
                                      "password2": "pw for a newcomer 1"})
        anon.post(reverse("signup"), {"email": "bob@example.org", "display_name": "Bob",
                                      "password1": "pw for a newcomer 1",
                                      "password2": "pw for a newcomer 1"})
        anon.post(reverse("password_reset"), {"email": "alice@example.org"})
        mona = Client(HTTP_HOST="alias.example")
        mona.force_login(people["mona"])
        mona.post(reverse("mod_add_members", args=["hikers"]),
                  {"addresses": "guest@example.org", "delivery": "individual",
                   "confirm": "yes"})
    assert len(mail.outbox) == 4
    for message in mail.outbox:
        urls = re.findall(r"https?://\S+", message.body)
        assert urls, message.body
        assert all(u.startswith("http://testserver") for u in urls), urls
        assert "alias.example" not in message.body + message.subject


def _page_types(people, group) -> dict[str, tuple[Client, str]]:
    post = make_post(group, "Hello", "Hi all.")
    held = HeldMessage.objects.create(group=group, sender_email="bob@example.org",
                                      subject="Held", reason="moderated", raw=b"Subject: x\r\n\r\nx",
                                      expires_at=timezone.now() + timedelta(days=1))
    alice = Client()
    alice.force_login(people["alice"])
    anon = Client()
    bob = Membership.objects.get(email="bob@example.org")
    return {
        "directory": (anon, reverse("directory")),
        "login": (anon, reverse("login")),
        "signup": (anon, reverse("signup")),
        "group": (anon, reverse("group_home", args=["hikers"])),
        "topic": (anon, reverse("topic", args=["hikers", post.topic_id])),
        "message": (anon, reverse("message", args=["hikers", post.number])),
        "search": (anon, reverse("search")),
        "feed": (anon, reverse("feed", args=["hikers"])),
        "not found": (anon, "/no/such/page/"),
        "signed link": (anon, links.unsubscribe_url(bob.pk).removeprefix("http://testserver")),
        "bad link": (anon, "/unsubscribe/forged-token/"),
        "moderation link": (anon, links.moderation_url(held.pk, "approve").removeprefix(
            "http://testserver")),
        "admin dashboard": (alice, reverse("mod_dashboard", args=["hikers"])),
        "members": (alice, reverse("mod_members", args=["hikers"])),
        "settings": (alice, reverse("mod_settings", args=["hikers"])),
        "profile": (alice, reverse("profile")),
        "health": (anon, "/health"),
    }


def test_every_page_type_carries_the_content_security_policy(people, group):
    for name, (client, url) in _page_types(people, group).items():
        response = client.get(url)
        policy = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy, (name, url, response.status_code)
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy, name
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, name


def test_no_template_has_inline_script_or_style():
    """CSP without 'unsafe-inline' would break them: code lives in static files."""
    offenders = []
    for root, _dirs, files in os.walk(os.path.join(PROJECT, "templates")):
        for name in files:
            text = open(os.path.join(root, name), encoding="utf-8").read()
            if name.endswith(".html") and re.search(
                    r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", text):
                offenders.append(name)
    assert offenders == []


def _settings_under(env: dict[str, str]) -> dict:
    """Django's settings as a process started with ``env`` would have them."""
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps({k: getattr(s, k, None) for k in ("
            "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
            "'SECURE_PROXY_SSL_HEADER', 'ALLOWED_HOSTS', 'CSRF_TRUSTED_ORIGINS')}))")
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "groups.settings", **env}
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=full,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_https_site_url_makes_cookies_secure_and_sends_hsts_settings():
    secure = _settings_under({"SITE_URL": "https://lists.example.org",
                              "ALLOWED_HOSTS": "www.lists.example.org"})
    assert secure["SESSION_COOKIE_SECURE"] and secure["CSRF_COOKIE_SECURE"]
    assert secure["SECURE_HSTS_SECONDS"] == 365 * 86400
    assert secure["ALLOWED_HOSTS"] == ["lists.example.org", "www.lists.example.org"]
    assert secure["CSRF_TRUSTED_ORIGINS"] == ["https://lists.example.org"]
    assert secure["SECURE_PROXY_SSL_HEADER"] is None  # not trusted unless told
    proxied = _settings_under({"SITE_URL": "https://lists.example.org",
                               "BEHIND_TLS_PROXY": "true"})
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    plain = _settings_under({"SITE_URL": "http://localhost:8000"})
    assert not plain["SESSION_COOKIE_SECURE"] and not plain["SECURE_HSTS_SECONDS"]


def test_https_responses_carry_hsts_and_secure_cookies(people, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 365 * 86400
    client = Client()
    page = client.get(reverse("login"), secure=True)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert page.cookies["csrftoken"]["secure"]
    token = page.cookies["csrftoken"].value
    response = client.post(reverse("login"), {"username": "bob@example.org",
                                              "password": "correct horse battery staple",
                                              "csrfmiddlewaretoken": token}, secure=True)
    assert response.status_code == 302 and response.cookies["sessionid"]["secure"]


def test_the_internal_api_answers_to_internal_names_and_the_site_to_its_own():
    site = _settings_under({"SITE_URL": "https://lists.example.org",
                            "INTERNAL_BIND_ADDRESS": "10.0.0.5"})
    assert site["ALLOWED_HOSTS"] == ["lists.example.org"]
    internal = _settings_under({"SITE_URL": "https://lists.example.org",
                                "INTERNAL_BIND_ADDRESS": "10.0.0.5",
                                "GROUPS_URLCONF": "messageserver.urls"})
    assert {"10.0.0.5", "127.0.0.1", "lists.example.org"} <= set(internal["ALLOWED_HOSTS"])
    assert "*" not in internal["ALLOWED_HOSTS"]


@pytest.mark.parametrize("proxy", ["false", "true"])
def test_django_deploy_checks_pass_under_an_https_site_url(tmp_path, proxy):
    env = {**{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},  # generated, long
           "DJANGO_SETTINGS_MODULE": "groups.settings", "DATA_DIR": str(tmp_path),
           "SITE_URL": "https://lists.example.org", "BEHIND_TLS_PROXY": proxy, "DEBUG": "false"}
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level",
                          "WARNING"], cwd=PROJECT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
