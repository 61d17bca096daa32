"""A member's bounce record: one rule for parsed bounces and Karl's events alike.

The bouncer job (cronjobs/bouncer) decides when a member becomes "bouncing";
this only keeps the facts it needs up to date. A hard failure weighs 1, a
soft one 0.5 (a full mailbox empties; an unknown user doesn't come back).
Updates are conditional UPDATEs, so two bounces processed at once both count.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F

from groups.models import Membership

WEIGHTS = {"hard": 1.0, "soft": 0.5}


def note_bounce(membership: Membership, kind: str, at: datetime) -> None:
    if kind not in WEIGHTS:
        raise ValueError(f"bounce kind must be hard or soft, not {kind!r}")
    Membership.objects.filter(pk=membership.pk).update(
        bounce_score=F("bounce_score") + WEIGHTS[kind], last_bounce_at=at)
    Membership.objects.filter(pk=membership.pk, first_bounce_at__isnull=True).update(
        first_bounce_at=at)
    membership.refresh_from_db(fields=["bounce_score", "first_bounce_at", "last_bounce_at"])
