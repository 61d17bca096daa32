"""Hourly upkeep of the groups: held messages that expired, monthly guidelines.

Both are owned by messageserver (moderation, notices); this only runs them on
a schedule, with the clock passed in, and both are idempotent.
"""

from __future__ import annotations

from datetime import datetime


def run_housekeeping(now: datetime) -> str:
    from messageserver import moderation, notices

    expired = moderation.expire_due(now)
    reminders = notices.send_monthly_guidelines(now)
    return f"{expired} held messages expired, {reminders} guideline reminders queued"
