"""Karl's reports of failed deliveries, recorded against the member they concern.

Karl knows addresses, not members: the job's meta names the group (and the
message number), which is enough to find the membership. The bouncer job
(cronjobs) reads the BounceEvent rows this writes.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from groups.models import BounceEvent, Membership
from messageserver import membership_actions, metrics

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
HARD_STATUSES = ("5.1.", "5.4.4")


def verdict(code: int | None, reply: str) -> tuple[str, str]:
    """(hard|soft, enhanced status) of one SMTP failure."""
    match = _STATUS.search(reply or "")
    status = ".".join(match.groups()) if match else ""
    hard = bool(status and status.startswith(HARD_STATUSES)) or (
        not status and code in (550, 551, 553) and re.search(
            r"(?i)user unknown|no such user|does not exist|unknown user|mailbox unavailable",
            reply or ""))
    return ("hard" if hard else "soft"), status


def record(events: list[dict[str, Any]]) -> int:
    """Store bounced/expired events as BounceEvents (and delivered probes); returns matches."""
    stored = 0
    for event in events:
        state = event.get("state", "")
        metrics.DELIVERY_EVENTS.labels(state=state or "unknown").inc()
        meta = event.get("meta") or {}
        if state == "sent" and meta.get("kind") == "probe" and meta.get("membership"):
            # A bounce probe got through: the bouncer restores the member.
            at = parse_datetime(event.get("at") or "") or timezone.now()
            stored += membership_actions.probe_delivered(int(meta["membership"]), at)
            continue
        if state not in ("bounced", "expired"):
            continue
        group = meta.get("group")
        address = (event.get("address") or "").lower()
        if not group or not address:
            continue
        membership = Membership.objects.filter(group__name=group, email=address).first()
        if membership is None:
            continue
        kind, status = verdict(event.get("code"), event.get("reply", ""))
        if state == "expired":
            kind = "soft"
        at = parse_datetime(event.get("at") or "") or timezone.now()
        BounceEvent.objects.create(
            membership=membership, at=at, kind=kind, status=status,
            diagnostic=(event.get("reply") or state)[:2000], source="karl",
            message_number=meta.get("number"))
        from messageserver import bounces_score

        bounces_score.note_bounce(membership, kind, at)
        stored += 1
    return stored
