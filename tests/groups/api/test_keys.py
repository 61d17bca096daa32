"""API keys: made on the account page and shown once, stored only as a digest, revoked
and expired at once, and rate-limited per key with 429 and Retry-After."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from groups import apikeys
from groups.api import auth
from groups.models import ApiKey
from tests.groups.api.conftest import Api

pytestmark = pytest.mark.django_db


def test_make_use_and_revoke_a_key_on_the_account_page(clients, group):
    page = clients["bob"].post(reverse("api_keys"), {
        "name": "backup script", "scope": "read",
        "expires": (timezone.localdate() + timedelta(days=30)).isoformat()})
    assert page.status_code == 200
    key = re.search(r'value="(gp_[^"]+)"', page.content.decode()).group(1)
    row = ApiKey.objects.get(name="backup script")
    assert row.user.username == "bob" and row.scope == "read" and row.expires_at
    assert key not in (row.digest, row.prefix) and key.startswith(f"gp_{row.prefix}_")
    assert key not in clients["bob"].get(reverse("api_keys")).content.decode()  # once only
    assert Api(key).get("/me").json()["username"] == "bob"
    assert ApiKey.objects.get(pk=row.pk).last_used_at is not None
    # another person can't revoke bob's key
    assert clients["charlie"].post(reverse("api_keys"), {"revoke": row.pk}).status_code == 404
    clients["bob"].post(reverse("api_keys"), {"revoke": row.pk})
    assert Api(key).get("/me").status_code == 401


def test_the_form_refuses_a_past_expiry_and_a_group_that_is_not_mine(clients, group,
                                                                     other_group):
    page = clients["bob"].post(reverse("api_keys"), {
        "name": "x", "scope": "read", "expires": "2001-01-01"})
    assert page.status_code == 400 and "Choose a day after today." in page.content.decode()
    page = clients["bob"].post(reverse("api_keys"), {
        "name": "x", "scope": "write", "group": other_group.pk})
    assert page.status_code == 400 and not ApiKey.objects.exists()


def test_malformed_and_unknown_keys_are_401s(api, keys):
    for header in ("Bearer nonsense", "Bearer gp_abc", "Bearer " + keys["owner"][:-2] + "xx",
                   "Basic dXNlcjpwYXNz"):
        response = api["none"].client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["detail"]


def test_rate_limit_per_key(api, settings):
    settings.API_RATE_LIMIT = "3/m"
    assert [api["member"].get("/me").status_code for _ in range(3)] == [200] * 3
    over = api["member"].get("/me")
    assert over.status_code == 429 and over.json()["detail"]
    assert int(over["Retry-After"]) > 0
    assert api["owner"].get("/me").status_code == 200  # another key has its own count


def _count_elsewhere(key: ApiKey, calls: int, window: int) -> None:
    """Another process (as another gunicorn worker is) counts calls of the same key."""
    script = ("import django; django.setup(); from groups import ratelimit; "
              f"[ratelimit.count_in_window('api', {auth.counter_of(key)!r}, {window}) "
              f"for _ in range({calls})]")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parents[3],
                   env=os.environ | {"DJANGO_SETTINGS_MODULE": "groups.settings"})


def test_rate_limit_is_shared_by_processes(api, keys, settings):
    settings.API_RATE_LIMIT = "3/d"
    assert api["member"].get("/me").status_code == 200
    _count_elsewhere(apikeys.find(keys["member"]), 2, 86400)
    over = api["member"].get("/me")  # 1 here + 2 in the other process: the 4th is refused
    assert over.status_code == 429
    assert 0 < int(over["Retry-After"]) <= 86400


@pytest.mark.redis
def test_rate_limit_with_redis_as_the_cache(api, keys, settings):
    """With REDIS_URL the counter is Redis's atomic INCR, its window kept in the key."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/11",
                                   # its own keys (they expire with their window);
                                   # never flushed: the server is shared
                                   "KEY_PREFIX": f"apitest-{os.getpid()}-{time.time_ns()}"}}
    settings.API_RATE_LIMIT = "2/h"
    assert [api["member"].get("/me").status_code for _ in range(3)] == [200, 200, 429]
    assert api["owner"].get("/me").status_code == 200


def test_unknown_paths_and_docs(api):
    missing = api["owner"].get("/no/such/thing")
    assert missing.status_code == 404 and "docs" in missing.json()["detail"]
    schema = api["none"].client.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    assert "/api/v1/groups/{group_name}/members" in schema.json()["paths"]
    docs = api["none"].client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
