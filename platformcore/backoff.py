"""Exponential backoff: the one rule for "wait longer each time it fails".

Karl's retries of a deferred recipient, Karl's reports of delivery events to
messageserver, the outbox's hand-offs to Karl, the feed crawler's failing
feeds, the supervisor's restarts of a crashing child and the website's waits
after failed log-ins (groups.ratelimit) all wait ``delay(failures, base, cap)``:
``base`` after the first failure, doubling with each one after, never more
than ``cap``. Waits shared by many (recipients, outbox rows, restarts) are
spread by a jitter, so they don't come back at the same moment; one loop's
wait (the event reporter), a stored schedule (a feed's next check) or a
limit a person is told about (log-in) takes ``jitter=0``.
"""

from __future__ import annotations

import random


def delay(failures: int, base: float, cap: float, jitter: float = 0.2) -> float:
    """The wait after ``failures`` failures in a row (1 = the first): ``base * 2**(failures-1)``,
    at most ``cap``, then spread by +-``jitter`` (a fraction)."""
    raw = min(cap, base * 2 ** max(0, min(failures - 1, 30)))
    return raw * random.uniform(1 - jitter, 1 + jitter) if jitter else raw
