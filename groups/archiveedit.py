"""Owners and moderators editing the archive: rename, move, merge and split topics.

Like groups.deletion (deleting messages and topics), every change keeps the
topics' counters true (message_count, first and last message, last_post_at,
recomputed from the messages not deleted, in the same transaction), and
search follows after commit: a message that changed topic is indexed again,
since an external engine keeps its topic and hashtags. Digests need nothing:
they read messages by number when they are sent. Message numbers never change.
"""

from __future__ import annotations

from django.db import transaction

from groups import activitylog, deletion
from groups.models import Message, Topic, TopicPreference
from messageserver.threader import clean_subject, normalize_subject

MAX_SUBJECT = 500


class ArchiveEditError(ValueError):
    """The edit makes no sense (same topic, another group's topic, the first message...)."""


def _recount(topic_id: int, actor: str) -> bool:
    """Recompute a topic's counters; a topic left with no visible message is deleted.

    Returns True when the topic still exists.
    """
    topic = Topic.objects.select_for_update().filter(pk=topic_id).first()
    if topic is None:
        return False
    remaining = Message.objects.filter(topic=topic, deleted=False).order_by("date", "number")
    count = remaining.count()
    if count == 0:
        deletion.delete_topic(topic, actor=actor)
        return False
    first, last = remaining.first(), remaining.last()
    Topic.objects.filter(pk=topic.pk).update(message_count=count, first_message=first,
                                             last_message=last, last_post_at=last.date)
    return True


def _subject(subject: str) -> str:
    cleaned = " ".join(subject.split())
    if not cleaned:
        raise ArchiveEditError("A subject is needed.")
    if len(cleaned) > MAX_SUBJECT:
        raise ArchiveEditError(f"At most {MAX_SUBJECT} characters.")
    return cleaned


def rename_topic(topic: Topic, subject: str, *, actor: str) -> Topic:
    """A new subject for the topic (messages keep theirs, as mailed)."""
    subject = _subject(subject)
    tag = topic.group.subject_tag
    with transaction.atomic():
        Topic.objects.filter(pk=topic.pk).update(
            subject=subject, normalized_subject=normalize_subject(subject, tag)[:500])
        activitylog.record(topic.group_id, actor=actor, verb="rename_topic", target=subject,
                           detail={"subject": [topic.subject, subject]})
    topic.refresh_from_db()
    return topic


def move_message(message: Message, target: Topic, *, actor: str) -> bool:
    """Move one message to another topic of its group; True when its old topic went empty."""
    if target.group_id != message.group_id:
        raise ArchiveEditError("That topic is in another group.")
    if target.pk == message.topic_id:
        raise ArchiveEditError("The message is already in that topic.")
    with transaction.atomic():
        source_id = message.topic_id
        Message.objects.filter(pk=message.pk).update(topic=target)
        activitylog.record(message.group_id, actor=actor, verb="move_message",
                           target=f"message #{message.number}",
                           detail={"topic": [message.topic.subject, target.subject]})
        _recount(target.pk, actor)
        gone = not _recount(source_id, actor)
        deletion.search_reindex([message.pk])
    return gone


def merge_topics(source: Topic, target: Topic, *, actor: str) -> Topic:
    """Every message of ``source`` joins ``target``; ``source`` is gone afterwards.

    The target keeps its subject, gains the source's hashtags, and members who
    muted or followed the source keep that choice on the target (their own
    choice on the target, if any, wins).
    """
    if source.group_id != target.group_id:
        raise ArchiveEditError("That topic is in another group.")
    if source.pk == target.pk:
        raise ArchiveEditError("A topic can't be merged into itself.")
    with transaction.atomic():
        moved = list(Message.objects.filter(topic=source).values_list("pk", flat=True))
        Message.objects.filter(topic=source).update(topic=target)
        target.hashtags.add(*source.hashtags.all())
        TopicPreference.objects.bulk_create(
            [TopicPreference(membership_id=p.membership_id, topic=target, mode=p.mode)
             for p in TopicPreference.objects.filter(topic=source)], ignore_conflicts=True)
        activitylog.record(source.group_id, actor=actor, verb="merge_topics",
                           target=source.subject, detail={"into": target.subject,
                                                          "messages": len(moved)})
        source.delete()  # its messages moved first: only the topic row and its preferences go
        _recount(target.pk, actor)
        deletion.search_reindex(moved)
    target.refresh_from_db()
    return target


def split_topic(message: Message, subject: str = "", *, actor: str) -> Topic:
    """A new topic from ``message`` on (by date, then number); the earlier ones stay.

    The new topic is named ``subject``, else the message's own subject without
    its tag and Re: prefixes; it takes the old topic's hashtags and preferences.
    """
    old = Topic.objects.get(pk=message.topic_id)
    ordered = Message.objects.filter(topic=old).order_by("date", "number")
    first_visible = ordered.filter(deleted=False).first()
    if first_visible is None or first_visible.pk == message.pk:
        raise ArchiveEditError("The topic already starts with this message; pick a later one.")
    name = _subject(subject or clean_subject(message.subject, old.group.subject_tag)
                    or message.subject)
    with transaction.atomic():
        later = [pk for pk, date, number in ordered.values_list("pk", "date", "number")
                 if (date, number) >= (message.date, message.number)]
        new = Topic.objects.create(group=old.group, subject=name,
                                   normalized_subject=normalize_subject(
                                       name, old.group.subject_tag)[:500],
                                   created_at=message.date, last_post_at=message.date)
        new.hashtags.add(*old.hashtags.all())
        TopicPreference.objects.bulk_create(
            [TopicPreference(membership_id=p.membership_id, topic=new, mode=p.mode)
             for p in TopicPreference.objects.filter(topic=old)], ignore_conflicts=True)
        Message.objects.filter(pk__in=later).update(topic=new)
        activitylog.record(old.group_id, actor=actor, verb="split_topic",
                           target=f"message #{message.number}",
                           detail={"topic": [old.subject, name], "messages": len(later)})
        _recount(new.pk, actor)
        _recount(old.pk, actor)
        deletion.search_reindex(later)
    new.refresh_from_db()
    return new


def set_flags(topic: Topic, *, actor: str, locked: bool | None = None,
              sticky: bool | None = None) -> None:
    """Lock or unlock, make sticky or not."""
    changes = {k: v for k, v in (("locked", locked), ("sticky", sticky)) if v is not None}
    if not changes:
        return
    with transaction.atomic():
        Topic.objects.filter(pk=topic.pk).update(**changes)
        for name, value in changes.items():
            verb = {"locked": ("lock_topic", "unlock_topic"),
                    "sticky": ("stick_topic", "unstick_topic")}[name][0 if value else 1]
            activitylog.record(topic.group_id, actor=actor, verb=verb, target=topic.subject)
