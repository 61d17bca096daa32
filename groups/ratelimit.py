"""Rate limits, counted in Django's cache: sign-up, log-in, password reset, command replies.

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

from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The peer address. Behind nginx, nginx sets REMOTE_ADDR via the WSGI server."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, value: str) -> str:
    return "rl:" + scope + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


log = logging.getLogger(__name__)


def hit(scope: str, value: str, limit: int, window: int) -> bool:
    """Count one attempt; True while within ``limit`` attempts per ``window`` seconds."""
    key = _key(scope, value)
    try:
        if cache.add(key, 1, timeout=window):
            return True
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            return True
    except Exception as exc:  # the cache server is down: don't take the page down with it
        log.error("rate limit %s not enforced: the cache is unavailable (%s)", scope, exc)
        return True
    return count <= limit


# Limits, named once: (attempts, window in seconds).
SIGNUP_PER_IP = (5, 3600)
LOGIN_PER_IP = (30, 600)
LOGIN_PER_ACCOUNT = (10, 600)
RESET_PER_IP = (5, 3600)
RESET_PER_ADDRESS = (3, 3600)
