"""Exponential backoff with jitter: the one rule for "wait longer each time it fails".

Karl's retries of a deferred recipient and the supervisor's restarts of a
crashing child both use it, so a failure that repeats (a relay down, a port
held by another program) is tried ever less often, never in a tight loop.
"""

from __future__ import annotations

import random


def delay(attempts: int, base: float, cap: float, jitter: float = 0.2) -> float:
    """Seconds to wait after ``attempts`` failures (1 = the first): base * 2^(n-1), capped,
    spread by +-``jitter`` so many waiters do not come back at the same moment."""
    raw = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    return raw * random.uniform(1 - jitter, 1 + jitter)
