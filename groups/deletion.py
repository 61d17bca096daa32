"""Deleting messages and topics from the archive, keeping the topic's counters true.

A deleted message stays in the database marked ``deleted`` (its number is never
reused and replies still thread to it), but it leaves the topic's counters:
message_count, first_message, last_message and last_post_at are recomputed
from what remains, in the same transaction. Deleting the last visible message
deletes the whole topic; deleting a group takes its whole archive. Search is told to forget what was deleted, after
commit, when the search package offers ``remove``.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import transaction

from groups import activitylog
from groups.models import Attachment, Group, Message, Topic

log = logging.getLogger(__name__)


def _search_call(name: str, items: list) -> None:
    """Call search.NAME(item) for each message (id or row); search being absent is fine."""
    if not apps.is_installed("search"):
        return
    try:
        search = importlib.import_module("search")
    except ImportError:
        return
    call = getattr(search, name, None)
    if call is None:
        return
    for item in items:
        try:
            call(item)
        except Exception:  # the archive is right either way; search visibility rechecks
            log.exception("search.%s(%s) failed", name, getattr(item, "pk", item))


def _search_remove(message_ids: list[int]) -> None:
    """Ask the search package to drop these messages."""
    _search_call("remove", message_ids)


def search_reindex(message_ids: list[int]) -> None:
    """After commit, index these messages again (they moved topic: an external engine
    keeps each message's topic and hashtags)."""
    from groups.models import Message as _Message

    def reindex() -> None:
        _search_call("index", list(_Message.objects.filter(pk__in=message_ids, deleted=False)))

    transaction.on_commit(reindex)


def _delete_files(paths: list[str]) -> None:
    root = Path(settings.ATTACHMENTS_DIR).resolve()
    for rel in paths:
        path = (root / rel).resolve()
        if path.is_relative_to(root):
            path.unlink(missing_ok=True)


def delete_topic(topic: Topic, *, actor: str = activitylog.SYSTEM) -> None:
    """Delete a topic, its messages and their attachment files (and log who did)."""
    with transaction.atomic():
        ids = list(Message.objects.filter(topic=topic).values_list("pk", flat=True))
        activitylog.record(topic.group_id, actor=actor, verb="delete_topic",
                           target=topic.subject, detail={"messages": len(ids)})
        paths = list(Attachment.objects.filter(message__topic=topic).values_list("path", flat=True))
        topic.delete()
        transaction.on_commit(lambda: _delete_files(paths))
        transaction.on_commit(lambda: _search_remove(ids))


def delete_message(message: Message, *, actor: str = activitylog.SYSTEM) -> bool:
    """Hide one message and fix its topic; returns True when the topic went with it."""
    with transaction.atomic():
        topic = Topic.objects.select_for_update().get(pk=message.topic_id)
        Message.objects.filter(pk=message.pk).update(deleted=True)
        activitylog.record(message.group_id, actor=actor, verb="delete_message",
                           target=f"message #{message.number}",
                           detail={"subject": message.subject})
        remaining = Message.objects.filter(topic=topic, deleted=False).order_by("date", "number")
        count = remaining.count()
        if count == 0:
            delete_topic(topic, actor=actor)
            return True
        first = remaining.first()
        last = remaining.last()
        Topic.objects.filter(pk=topic.pk).update(
            message_count=count, first_message=first, last_message=last,
            last_post_at=last.date)
        transaction.on_commit(lambda: _search_remove([message.pk]))
    return False


def delete_group(group: Group) -> None:
    """Delete a group with everything it holds: members, archive, attachments, held mail.

    The rows go in one transaction (every table cascades from Group); the
    attachment files and the search entries follow after commit, as for a topic.
    """
    with transaction.atomic():
        ids = list(Message.objects.filter(group=group).values_list("pk", flat=True))
        paths = list(Attachment.objects.filter(message__group=group)
                     .values_list("path", flat=True))
        group.delete()
        transaction.on_commit(lambda: _delete_files(paths))
        transaction.on_commit(lambda: _search_remove(ids))
