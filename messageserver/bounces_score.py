"""A member's bounce record: one rule for parsed bounces and Karl's events alike.

The bouncer job (cronjobs/bouncer) decides when a member becomes "bouncing";
this only keeps the facts it needs up to date.
"""

from __future__ import annotations

from datetime import datetime

from groups.models import Membership


def note_bounce(membership: Membership, kind: str, at: datetime) -> None:
    fields: dict = {"last_bounce_at": at, "bounce_score": membership.bounce_score + (
        1.0 if kind == "hard" else 0.5)}
    if membership.first_bounce_at is None:
        fields["first_bounce_at"] = at
    Membership.objects.filter(pk=membership.pk).update(**fields)
    for key, value in fields.items():
        setattr(membership, key, value)
