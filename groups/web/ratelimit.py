"""Rate limits for sign-up, log-in and password reset, counted in Django's cache.

The cache is shared by every web process (a file cache by default, Redis when
configured), so a limit holds across processes. A limit is a number of
attempts per window per key (an IP address, an account name, an address).
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The peer address. Behind nginx, nginx sets REMOTE_ADDR via the WSGI server."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, value: str) -> str:
    return "rl:" + scope + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


def hit(scope: str, value: str, limit: int, window: int) -> bool:
    """Count one attempt; True while within ``limit`` attempts per ``window`` seconds."""
    key = _key(scope, value)
    if cache.add(key, 1, timeout=window):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return True
    return count <= limit


# Limits, named once: (attempts, window in seconds).
SIGNUP_PER_IP = (5, 3600)
LOGIN_PER_IP = (30, 600)
LOGIN_PER_ACCOUNT = (10, 600)
RESET_PER_IP = (5, 3600)
RESET_PER_ADDRESS = (3, 3600)
