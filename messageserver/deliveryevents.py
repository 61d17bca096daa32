"""Karl's reports of failed deliveries, recorded against the member they concern, and
each post job's "finished" counts (DeliverySummary, for the message's delivery report).

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

from groups.models import BounceEvent, DeliverySummary, Group, Membership
from messageserver import bounces_score, membership_actions, metrics, webhookevents
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


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def record_summary(event: dict[str, Any], meta: dict[str, Any], at) -> int:
    """A job's "finished" event: its counts, kept per job for the message's delivery report.

    One row per Karl job (unique), so the event posted again changes nothing.
    """
    group = Group.objects.filter(name=meta.get("group") or "").first()
    job_id = event.get("job_id")
    if group is None or not isinstance(job_id, str) or not 0 < len(job_id) <= 64:
        return 0
    counts = event.get("counts") if isinstance(event.get("counts"), dict) else {}
    number = meta.get("number")
    _, created = DeliverySummary.objects.get_or_create(karl_job_id=job_id, defaults={
        "group": group, "message_number": number if _count(number) else None,
        "total": _count(event.get("total")), "sent": _count(counts.get("sent")),
        "bounced": _count(counts.get("bounced")), "expired": _count(counts.get("expired")),
        "deferred": _count(event.get("deferred")), "finished_at": at})
    return int(created)


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
    if state == "finished":
        return record_summary(event, meta, at)
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
    if state == "expired":
        webhookevents.delivery_expired(membership, meta.get("number"), event.get("reply") or "")
    else:
        webhookevents.bounce(membership, kind, status, event.get("reply") or "",
                             meta.get("number"))
    return 1
