"""Redis down, in the Redis mode: pages, logins and email commands keep working.

The cache points at a Redis that does not answer (a closed loopback port), as
when the server has stopped. Rate limits fail open and log an error (which
errord collects); nothing a user does fails because the counter store did.
The mail path does not use Redis at all; Celery with Redis down is covered by
the broker settings (its tasks wait in beat until the broker is back).
"""

from __future__ import annotations

import pytest

from groups import ratelimit
from groups.models import OutboxItem
from messageserver import pipeline
from tests.conftest import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    # (Django's setting_changed signal drops the cache connections it had.)
    yield


def test_rate_limits_fail_open_and_say_so(redis_down, caplog, outcomes):
    assert ratelimit.hit("login-ip", "127.0.0.1", 1, 60)
    assert ratelimit.hit("login-ip", "127.0.0.1", 1, 60)  # not counted: the store is down
    assert "not enforced: the cache is unavailable" in caplog.text
    outcomes.add("fault", "Redis down (cache): rate limits", "fail open, error logged")


def test_login_page_and_login_work_with_redis_down(redis_down, client, django_user_model,
                                                   outcomes):
    django_user_model.objects.create_user(username="bob@example.org", email="bob@example.org",
                                          password="a long test passphrase",
                                          email_confirmed=True)
    assert client.get("/accounts/login/").status_code == 200
    r = client.post("/accounts/login/", {"username": "bob@example.org",
                                         "password": "a long test passphrase"})
    assert r.status_code == 302
    outcomes.add("fault", "Redis down (cache): log-in page and log-in", "200, then logged in")


def test_email_commands_answer_with_redis_down(redis_down, demo_group, outcomes):
    raw = (b"From: Charlie <charlie@example.net>\r\nTo: demo+help@groups.localhost\r\n"
           b"Subject: help\r\nMessage-ID: <help-1@example.net>\r\n\r\nhelp\r\n")
    [(_, outcome)] = pipeline.handle_inbound("charlie@example.net",
                                             ["demo+help@groups.localhost"], raw)
    assert outcome.kind == "accepted", outcome
    assert OutboxItem.objects.count() == 1  # the help text, queued for Karl
    outcomes.add("fault", "Redis down (cache): an email command", "answered")
