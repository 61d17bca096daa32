"""Rate limits, counted in Django's cache: sign-up, log-in, password reset, command replies.

Sign-up and reset have fixed limits per window (``hit``); log-in failures make
growing delays (``Backoff``) by client, by account and client, and (short ones)
by account, so nobody can lock another person out of their account.

The cache is shared by every process (a file cache by default, Redis when
configured), so a limit holds across processes. A limit is a number of
attempts per window per key (an IP address, an account name, an address).
When the cache itself is down (Redis stopped), limits fail open and say so in
the log (and so to errord): a login page or a command must not fail because
the counter store did.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest

from platformcore import backoff


def client_ip(request: HttpRequest) -> str:
    """The peer address. Behind nginx, nginx sets REMOTE_ADDR via the WSGI server."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, value: str) -> str:
    return "rl:" + scope + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


log = logging.getLogger(__name__)


def hit(scope: str, value: str, limit: int, window: int) -> bool:
    """Count one attempt; True while within ``limit`` attempts per ``window`` seconds.

    The window starts at the first attempt. Django's file cache writes an
    incremented value with the cache's default timeout (5 minutes), not the
    key's own (Redis keeps it), so the window's end is kept beside the count
    and put back after each increment: an hour's limit must not lapse after
    five quiet minutes, nor a minute's limit last five.
    """
    key = _key(scope, value)
    end_key = key + ":end"
    try:
        if cache.add(key, 1, timeout=window):
            cache.set(end_key, time.time() + window, timeout=window)
            return True
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            cache.set(end_key, time.time() + window, timeout=window)
            return True
        end = cache.get(end_key)
        if end is not None:
            cache.touch(key, timeout=max(1, int(end - time.time()) + 1))
    except Exception as exc:  # the cache server is down: don't take the page down with it
        log.error("rate limit %s not enforced: the cache is unavailable (%s)", scope, exc)
        return True
    return count <= limit


def count_in_window(scope: str, value: str, window: int) -> tuple[int, float]:
    """Count one call in the current fixed ``window`` (seconds): (calls so far, seconds left).

    For limits checked on every call (the API's per-key limit): the window is in the
    key, so the common case is one ``incr`` of a small integer (Redis: one atomic
    command; the file cache: one read and one write), and no expiry has to survive
    the increment. A cache that is down counts nothing (0): the limit fails open.
    """
    start = int(time.time() // window) * window
    key = f"{_key(scope, value)}:{start}"
    try:
        try:
            count = cache.incr(key)
        except ValueError:  # the window's first call (or the counter was culled)
            if cache.add(key, 1, timeout=window + 1):
                count = 1
            else:  # another process added it between our incr and add
                count = cache.incr(key)
        if window > cache.default_timeout and count > 1:
            # Django's file cache writes an incremented value with the default timeout
            # (Redis keeps the key's own): an hour's count must not lapse after 5 minutes.
            cache.touch(key, timeout=window + 1)
    except Exception as exc:
        log.error("rate limit %s not enforced: the cache is unavailable (%s)", scope, exc)
        return 0, 0.0
    return count, start + window - time.time()


# Limits, named once: (attempts, window in seconds).
SIGNUP_PER_IP = (5, 3600)
CONFIRM_PER_ACCOUNT = (10, 3600)
RESET_PER_IP = (5, 3600)
RESET_PER_ADDRESS = (3, 3600)


# --- Growing delays for log-in failures (no lockout anyone else can cause) -----------------


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures, each further one makes the key wait twice as long as the last.

    The first wait is ``first`` seconds, the longest ``longest``; a success (or a
    quiet ``forget`` seconds) clears the count.
    """

    free: int
    first: float
    longest: float
    forget: int = 86400

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return backoff.delay(failures - self.free, self.first, self.longest, jitter=0)


# By client (the guesser's own address: long waits), by account and client (the pair a
# guesser works on), and by account alone (a distributed guess: short waits only, so a
# stranger can slow an account's log-in by seconds, never lock its owner out).
LOGIN_BY_CLIENT = Backoff(free=20, first=1, longest=15 * 60)
LOGIN_BY_ACCOUNT_AND_CLIENT = Backoff(free=5, first=2, longest=15 * 60)
LOGIN_BY_ACCOUNT = Backoff(free=50, first=1, longest=30)


def now() -> float:
    """The clock of the backoffs (a test moves it instead of sleeping)."""
    return time.time()


def wait_seconds(scope: str, value: str) -> float:
    """How long ``value`` must still wait before its next attempt (0: go ahead)."""
    try:
        state = cache.get(_key(scope, value))
    except Exception as exc:
        log.error("backoff %s not enforced: the cache is unavailable (%s)", scope, exc)
        return 0.0
    if not state:
        return 0.0
    return max(0.0, state["until"] - now())


def failed(scope: str, value: str, backoff: Backoff) -> float:
    """Count one failure; returns the wait it starts (0 while within the free failures)."""
    key = _key(scope, value)
    try:
        state = cache.get(key) or {"failures": 0, "until": 0.0}
        state["failures"] += 1
        wait = backoff.delay(state["failures"])
        state["until"] = now() + wait
        cache.set(key, state, timeout=backoff.forget)
    except Exception as exc:
        log.error("backoff %s not counted: the cache is unavailable (%s)", scope, exc)
        return 0.0
    return wait


def succeeded(scope: str, value: str) -> None:
    try:
        cache.delete(_key(scope, value))
    except Exception as exc:
        log.error("backoff %s not cleared: the cache is unavailable (%s)", scope, exc)
