"""Karl's reports of failed deliveries, recorded against the member they concern.

Karl knows addresses, not members: the job's meta names the group (and the
message number), which is enough to find the membership. The bouncer job
(cronjobs) reads the BounceEvent rows this writes.

Karl posts events until it gets a 2xx, so a batch whose answer was lost comes
again: each event is applied once, like bounce mail (bouncehandling), by
recording its key as a ProcessedReport in the transaction that applies it.
The key is Karl's event id (job/recipient/attempt), else a hash of the event.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from groups.models import BounceEvent, Membership
from messageserver import bounces_score, membership_actions, metrics
from messageserver.bouncehandling import remember

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


def event_key(event: dict[str, Any]) -> str:
    """What names this event across Karl's re-posts (its id, else a hash of what it says)."""
    eid = event.get("id")
    if isinstance(eid, str) and 0 < len(eid) <= 400 and eid.isprintable():
        return "karl:" + eid
    said = {k: event.get(k) for k in ("job_id", "address", "state", "code", "reply", "at",
                                               "meta")}
    canonical = json.dumps(said, sort_keys=True, default=str).encode()
    return "karl:sha256:" + hashlib.sha256(canonical).hexdigest()


def record(events: list[dict[str, Any]]) -> int:
    """Store bounced/expired events as BounceEvents (and delivered probes); returns matches.

    An event seen before is skipped (it is not counted in the return value).
    """
    stored = 0
    for event in events:
        state = event.get("state", "")
        metrics.DELIVERY_EVENTS.labels(state=state or "unknown").inc()
        with transaction.atomic():
            stored += _apply(event, state)
    return stored


def _apply(event: dict[str, Any], state: str) -> int:
    meta = event.get("meta") or {}
    at = parse_datetime(event.get("at") or "") or timezone.now()
    if state == "sent" and meta.get("kind") == "probe" and meta.get("membership"):
        # A bounce probe got through: the member's delivery is restored.
        membership = Membership.objects.filter(pk=int(meta["membership"])).first()
        if membership is None or not remember(membership, event_key(event), "delivery", at):
            return 0
        return int(membership_actions.probe_delivered(membership.pk, at))
    if state not in ("bounced", "expired"):
        return 0
    group = meta.get("group")
    address = (event.get("address") or "").lower()
    if not group or not address:
        return 0
    membership = Membership.objects.filter(group__name=group, email=address).first()
    if membership is None or not remember(membership, event_key(event), "delivery", at):
        return 0
    kind, status = verdict(event.get("code"), event.get("reply", ""))
    if state == "expired":
        kind = "soft"
    BounceEvent.objects.create(
        membership=membership, at=at, kind=kind, status=status,
        diagnostic=(event.get("reply") or state)[:2000], source="karl",
        message_number=meta.get("number"))
    bounces_score.note_bounce(membership, kind, at)
    return 1
