"""Hourly upkeep: held messages that expired, monthly guidelines, search catch-up,
and forgetting bounce reports too old to be redelivered.

Each is owned elsewhere (messageserver's moderation, notices and bounce
handling, search's catchup); this only runs them on a schedule, with the clock passed in, and
each is idempotent.
"""

from __future__ import annotations

from datetime import datetime

from messageserver import bouncehandling, moderation, notices
from search.catchup import index_missing


def run_housekeeping(now: datetime) -> str:
    expired = moderation.expire_due(now)
    reminders = notices.send_monthly_guidelines(now)
    indexed = index_missing(now)
    forgotten = bouncehandling.forget_old_reports(now)
    return (f"{expired} held messages expired, {reminders} guideline reminders queued, "
            f"{indexed} messages the search index lacked indexed, "
            f"{forgotten} old bounce reports forgotten")
