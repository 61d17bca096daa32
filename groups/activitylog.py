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
from django.utils.translation import gettext_lazy as _

from groups.models import ActivityEntry, Group, Membership

SYSTEM = "system"
BOUNCES = "bounce processor"

# Readable wording of the verbs, for the log page (a verb not here shows as itself).
VERBS: dict[str, str] = {
    "join": _("joined"),
    "request_join": _("asked to join"),
    "ask_confirmation": _("was asked to confirm"),
    "confirm": _("confirmed and joined"),
    "confirm_to_approval": _("confirmed; waiting for approval"),
    "approve": _("approved the join request of"),
    "decline": _("declined the join request of"),
    "leave": _("left"),
    "remove": _("removed"),
    "ban": _("banned"),
    "unban": _("lifted the ban on"),
    "remove_for_complaint": _("removed after a spam complaint:"),
    "remove_for_bouncing": _("removed for bouncing:"),
    "restore": _("restored"),
    "member_sets_delivery": _("changed delivery of"),
    "set_delivery": _("changed delivery of"),
    "set_posting_status": _("changed posting status of"),
    "mark_bouncing": _("marked as bouncing:"),
    "probe_delivered": _("delivery restored (probe reached)"),
    "set_role": _("changed the role of"),
    "set_name": _("changed the display name of"),
    "add": _("added"),
    "invite": _("invited"),
    "ban_rule": _("added a ban rule"),
    "unban_rule": _("removed a ban rule"),
    "sender_rule": _("set a sender rule for"),
    "sender_rule_removed": _("removed the sender rule for"),
    "api_key_created": _("created an API key for the group:"),
    "webhook_added": _("added the webhook"),
    "webhook_removed": _("removed the webhook"),
    "event_added": _("added the event"),
    "event_changed": _("changed the event"),
    "event_removed": _("removed the event"),
    "poll_started": _("started the poll"),
    "poll_closed": _("closed the poll"),
    "wiki_edited": _("edited the wiki page"),
    "wiki_reverted": _("reverted the wiki page"),
    "file_added": _("added the file"),
    "file_removed": _("deleted the file"),
    "file_renamed": _("renamed a file to"),
    "folder_added": _("added the folder"),
    "photo_added": _("added a photo to the album"),
    "album_added": _("added the album"),
    # the moderation queue (messageserver.moderation), target: the poster's address
    "approve_message": _("approved a held message from"),
    "approve_unmoderate": _("approved a held message and unmoderated"),
    "approve_edited": _("edited and approved a held message from"),
    "reject_message": _("rejected a held message from"),
    "discard_message": _("discarded a held message from"),
    "expire_message": _("let expire a held message from"),
    "save_reason": _("saved the reject reason"),
    "delete_reason": _("deleted the reject reason"),
    # archive management (groups.archiveedit, groups.deletion)
    "rename_topic": _("renamed the topic"),
    "move_message": _("moved"),
    "merge_topics": _("merged the topic"),
    "split_topic": _("split a topic at"),
    "lock_topic": _("locked the topic"),
    "unlock_topic": _("unlocked the topic"),
    "stick_topic": _("made sticky the topic"),
    "unstick_topic": _("made not sticky the topic"),
    "delete_message": _("deleted"),
    "delete_topic": _("deleted the topic"),
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
