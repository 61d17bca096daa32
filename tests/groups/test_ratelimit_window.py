"""``ratelimit.hit`` on the embedded file cache: an hour's limit outlives the cache's 5 minutes.

Django's file cache writes an incremented value with the cache's default
timeout (300 s), not the key's own; the limit then lapsed after five quiet
minutes. The file cache reads its clock from ``time.time`` in its module, so
the test moves that clock instead of waiting.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches
from django.core.cache.backends import filebased

from groups import ratelimit


@pytest.fixture
def file_cache(settings, tmp_path):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    yield caches["default"]  # the cache ratelimit's ``cache`` stands for, made anew


def test_an_hours_limit_still_counts_after_the_cache_default_timeout(file_cache, monkeypatch):
    assert isinstance(file_cache, filebased.FileBasedCache) and file_cache.default_timeout == 300
    limit, window = ratelimit.SIGNUP_PER_IP
    assert window > file_cache.default_timeout
    assert all(ratelimit.hit("signup", "192.0.2.7", limit, window) for _ in range(limit))
    start = time.time()
    monkeypatch.setattr(filebased.time, "time", lambda: start + 20 * 60)  # 20 quiet minutes
    assert not ratelimit.hit("signup", "192.0.2.7", limit, window), "the hour's count lapsed"
    monkeypatch.setattr(filebased.time, "time", lambda: start + window + 5)  # the hour is over
    assert ratelimit.hit("signup", "192.0.2.7", limit, window)


def test_a_short_window_ends_as_before(file_cache, monkeypatch):
    assert all(ratelimit.hit("cmd", "a@example.org", 2, 60) for _ in range(2))
    assert not ratelimit.hit("cmd", "a@example.org", 2, 60)
    start = time.time()
    monkeypatch.setattr(filebased.time, "time", lambda: start + 61)
    assert ratelimit.hit("cmd", "a@example.org", 2, 60)
