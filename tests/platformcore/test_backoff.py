"""The one backoff gives what each of the formulas it replaced gave.

The old formulas are written out here as they were (messageserver/outbox.py,
karl/scheduler.py, karl/events.py, cronjobs/rsscrawler.py, groups/ratelimit.py's
log-in backoff), and the callers' new calls are checked against them, jitter
bounds included.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from cronjobs.config import FeedSettings
from cronjobs.rsscrawler import backoff as feed_backoff
from groups import ratelimit
from karl.scheduler import backoff_ms
from platformcore.backoff import delay


@pytest.mark.parametrize("attempts", range(0, 40))
def test_the_outbox_waits_as_before(attempts):
    """Was: min(600, 2 ** min(attempts, 10)) * uniform(0.8, 1.2), attempts counted from 0."""
    old = min(600.0, 2 ** min(attempts, 10))
    for _ in range(20):
        new = delay(attempts + 1, 1.0, 600.0)
        assert old * 0.8 <= new <= old * 1.2


@pytest.mark.parametrize("attempts", range(1, 40))
def test_karl_retries_wait_as_before(attempts):
    """Was: min(cap, base * 2 ** (attempts - 1)) * uniform(0.8, 1.2), in ms."""
    old = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    for _ in range(20):
        assert int(old * 0.8 * 1000) <= backoff_ms(attempts, 30.0, 3600.0) <= old * 1.2 * 1000


def test_the_event_reporter_waits_as_before():
    """Was: 0.5, then doubling to at most 60 s, no jitter."""
    old, waits = 0.5, []
    for failures in range(1, 15):
        waits.append((old, delay(failures, 0.5, 60.0, jitter=0)))
        old = min(60.0, old * 2)
    assert all(a == b for a, b in waits)


@pytest.mark.parametrize("failures", range(1, 30))
def test_a_failing_feed_waits_as_before(failures):
    """Was: interval * 2 ** min(failures, 20) minutes, at most max_backoff, no jitter."""
    cfg = FeedSettings.from_env()
    old = min(cfg.interval_minutes * 2 ** min(failures, 20), cfg.max_backoff_minutes)
    assert feed_backoff(failures, cfg) == timedelta(minutes=old)


@pytest.mark.parametrize("limit", [ratelimit.LOGIN_BY_CLIENT, ratelimit.LOGIN_BY_ACCOUNT_AND_CLIENT,
                                   ratelimit.LOGIN_BY_ACCOUNT])
def test_log_in_failures_wait_as_before(limit):
    """Was: 0 up to ``free`` failures, then min(first * 2 ** (failures - free - 1), longest)."""
    for failures in range(0, limit.free + 40):
        old = (0.0 if failures <= limit.free
               else min(limit.first * 2 ** (failures - limit.free - 1), limit.longest))
        assert limit.delay(failures) == old


def test_jitter_spreads_and_zero_jitter_does_not():
    random.seed(7)
    spread = {round(delay(3, 1.0, 100.0), 6) for _ in range(50)}
    assert len(spread) > 40 and all(3.2 <= d <= 4.8 for d in spread)
    assert {delay(3, 1.0, 100.0, jitter=0) for _ in range(10)} == {4.0}
