"""The activity log: one searchable record per group of who changed what.

Every membership change (messageserver.membership_actions) and every owner's
or moderator's action (moderation, archive management) calls ``record`` inside
the transaction that makes the change, so an entry exists exactly when the
change does. The log is written here only; pages read it (groups.web) and
never write it. ``actor`` is an email address, ``SYSTEM`` or ``BOUNCES``;
``target`` an email address or "message #N".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.utils import timezone

from groups.models import ActivityEntry, Group, Membership

SYSTEM = "system"
BOUNCES = "bounce processor"

# Readable wording of the verbs, for the log page (a verb not here shows as itself).
VERBS: dict[str, str] = {
    "join": "joined",
    "request_join": "asked to join",
    "ask_confirmation": "was asked to confirm",
    "confirm": "confirmed and joined",
    "confirm_to_approval": "confirmed; waiting for approval",
    "approve": "approved the join request of",
    "decline": "declined the join request of",
    "leave": "left",
    "remove": "removed",
    "ban": "banned",
    "unban": "lifted the ban on",
    "remove_for_complaint": "removed after a spam complaint:",
    "remove_for_bouncing": "removed for bouncing:",
    "restore": "restored",
    "member_sets_delivery": "changed delivery of",
    "set_delivery": "changed delivery of",
    "set_posting_status": "changed posting status of",
    "mark_bouncing": "marked as bouncing:",
    "probe_delivered": "delivery restored (probe reached)",
    "set_role": "changed the role of",
    "set_name": "changed the display name of",
    "add": "added",
    "invite": "invited",
    "ban_rule": "added a ban rule",
    "unban_rule": "removed a ban rule",
    "sender_rule": "set a sender rule for",
    "sender_rule_removed": "removed the sender rule for",
    "event_added": "added the event",
    "event_changed": "changed the event",
    "event_removed": "removed the event",
    "poll_started": "started the poll",
    "wiki_edited": "edited the wiki page",
    "wiki_reverted": "reverted the wiki page",
    "file_added": "added the file",
    "file_removed": "deleted the file",
    "file_renamed": "renamed a file to",
    "folder_added": "added the folder",
    "photo_added": "added a photo to the album",
    "album_added": "added the album",
    "poll_closed": "closed the poll",
    # the moderation queue (messageserver.moderation), target: the poster's address
    "approve_message": "approved a held message from",
    "approve_unmoderate": "approved a held message and unmoderated",
    "approve_edited": "edited and approved a held message from",
    "reject_message": "rejected a held message from",
    "discard_message": "discarded a held message from",
    "expire_message": "let expire a held message from",
    "save_reason": "saved the reject reason",
    "delete_reason": "deleted the reject reason",
    # archive management (groups.archiveedit, groups.deletion)
    "rename_topic": "renamed the topic",
    "move_message": "moved",
    "merge_topics": "merged the topic",
    "split_topic": "split a topic at",
    "lock_topic": "locked the topic",
    "unlock_topic": "unlocked the topic",
    "stick_topic": "made sticky the topic",
    "unstick_topic": "made not sticky the topic",
    "delete_message": "deleted",
    "delete_topic": "deleted the topic",
}


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a detail value (dates as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(group: Group | int, *, actor: str, verb: str, target: str = "",
           detail: dict[str, Any] | None = None) -> ActivityEntry:
    """Write one entry; call it inside the transaction that makes the change."""
    return ActivityEntry.objects.create(
        group_id=group if isinstance(group, int) else group.pk,
        actor=(actor or SYSTEM)[:320], verb=verb[:40], target=(target or "")[:320],
        detail=_plain(detail or {}))


def record_many(group: Group, *, actor: str, verb: str, targets: Iterable[str],
                detail: dict[str, Any] | None = None) -> int:
    """One entry per target, in one bulk insert (adding 10,000 members at once)."""
    now = timezone.now()
    rows = [ActivityEntry(group_id=group.pk, at=now, actor=(actor or SYSTEM)[:320],
                          verb=verb[:40], target=t[:320], detail=_plain(detail or {}))
            for t in targets]
    ActivityEntry.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def describe(entry: ActivityEntry) -> str:
    """The verb in words, for the log page."""
    return VERBS.get(entry.verb, entry.verb.replace("_", " "))


# Stored values in the words the pages use ("digest" -> "Full-featured digest").
_LABELS: dict[str, dict[str, str]] = {
    "status": dict(Membership.Status.choices), "delivery": dict(Membership.Delivery.choices),
    "posting_status": dict(Membership.PostingStatus.choices),
    "role": dict(Membership.Role.choices), "bounce_state": dict(Membership.BounceState.choices),
}


def detail_text(entry: ActivityEntry) -> str:
    """The details in words: "delivery: individual → digest; reason: spam"."""
    parts = []
    for key, value in (entry.detail or {}).items():
        names = _LABELS.get(key, {})
        if isinstance(value, list) and len(value) == 2:
            before, after = (names.get(v, v) or "—" for v in value)
            value = f"{before} → {after}"
        else:
            value = names.get(value, value) if isinstance(value, str) else value
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)
