"""Keep a message: topic, number, raw bytes, bodies and attachments.

Everything is written in the caller's transaction, so a message is either
archived whole (with its fan-out queued in the outbox) or not at all.
Attachment files are written and fsynced before the rows that point at them;
a crash in between leaves an orphan file, never a row without its file.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timedelta
from email.utils import make_msgid
from pathlib import Path

from django.conf import settings
from django.db.models import F

from groups.models import Attachment, Group, Hashtag, Membership, Message, RawMessage, Topic
from messageserver import richpost, threader
from messageserver.mailparse import AttachmentPart, ParsedMail


def attachment_problem(group: Group, attachments: list[AttachmentPart]) -> str:
    """Why the group's limits refuse these attachments, or "" when they're fine."""
    allowed = [t.strip().lower() for t in group.allowed_attachment_types.split(",") if t.strip()]
    for att in attachments:
        if len(att.data) > group.max_attachment_size:
            return (f"the attachment {att.filename!r} is {len(att.data)} bytes; this group "
                    f"accepts attachments up to {group.max_attachment_size} bytes")
        ctype = att.content_type.lower()
        if allowed and not any(ctype == a or (a.endswith("/") and ctype.startswith(a))
                               for a in allowed):
            return f"this group does not accept attachments of type {ctype}"
    return ""


def group_hashtags(group: Group, subject: str, create: bool = True) -> list[Hashtag]:
    """The group's hashtags named in ``subject`` (unknown ones are created)."""
    names = threader.hashtags_in(subject)
    if not names:
        return []
    existing = {h.name.lower(): h for h in Hashtag.objects.filter(group=group)}
    tags = []
    for name in names:
        tag = existing.get(name.lower())
        if tag is None and create:
            tag, _ = Hashtag.objects.get_or_create(group=group, name=name)
        if tag is not None:
            tags.append(tag)
    return tags


def post_hashtags(group: Group, subject: str, topic: Topic | None, *,
                  create: bool = True) -> list[Hashtag]:
    """The hashtags a post carries: those its subject names, and for a reply (``topic``
    is the topic it joins) every hashtag of its topic, subject or not.

    The one place a post's hashtags are worked out, for the posting policy (moderated,
    moderators-only, replies-by-moderators-only) and the fan-out (no email, special
    notice, mutes and follows) alike: a reply whose subject dropped the topic's tag is
    still in the tagged topic, as on Groups.io, where a topic's hashtags apply to all
    of its messages.
    """
    tags = group_hashtags(group, subject, create=create)
    if topic is not None and topic.pk is not None:
        named = {tag.pk for tag in tags}
        tags += [tag for tag in topic.hashtags.all() if tag.pk not in named]
    return tags


def _store_file(rel: Path, data: bytes) -> None:
    path = Path(settings.ATTACHMENTS_DIR) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def archive(
    group: Group,
    parsed: ParsedMail,
    raw: bytes,
    *,
    membership: Membership | None,
    now: datetime,
    topic: Topic | None = None,
    hashtags: list[Hashtag] | None = None,
    source: str = Message.Source.EMAIL,
    nonmember: bool = False,
) -> Message:
    """Archive in the current transaction; returns the new Message with its number."""
    subject = parsed.subject or "(no subject)"
    if topic is None:
        topic = Topic.objects.create(
            group=group,
            subject=threader.clean_subject(subject, group.subject_tag)[:500] or "(no subject)",
            normalized_subject=threader.normalize_subject(subject, group.subject_tag),
            created_at=now,
            last_post_at=now,
        )
    number = group.allocate_message_number()
    message = Message.objects.create(
        group=group,
        topic=topic,
        number=number,
        message_id=parsed.message_id or make_msgid(
            idstring=f"{group.name}.{number}", domain=settings.GROUPS_DOMAIN),
        in_reply_to=parsed.in_reply_to[:500],
        references=" ".join(parsed.references)[:10000],
        sender_email=parsed.from_email[:320],
        sender_name=(parsed.from_name or (membership.name if membership else ""))[:200],
        membership=membership,
        subject=subject[:500],
        date=parsed.date or now,
        created_at=now,
        body_text=parsed.text,
        body_html=parsed.html,
        markdown=source == Message.Source.WEB and parsed.header(
            richpost.MARKDOWN_HEADER).strip().lower() == "markdown",
        source=source,
        nonmember=nonmember,
    )
    RawMessage.objects.create(message=message, data=raw)
    for index, att in enumerate(parsed.attachments, start=1):
        safe = re.sub(r"[^\w.-]", "_", att.filename)[:100] or "attachment"
        rel = Path(group.name) / str(number) / f"{index}-{safe}"
        _store_file(rel, att.data)
        Attachment.objects.create(
            message=message, filename=att.filename, content_type=att.content_type[:255],
            size=len(att.data), path=str(rel), content_id=att.content_id[:255],
            sha256=hashlib.sha256(att.data).hexdigest(),
        )
    # Conditional updates, not read-then-write: concurrent replies to one topic
    # must neither lose a count nor move last_post_at backwards.
    Topic.objects.filter(pk=topic.pk).update(message_count=F("message_count") + 1,
                                             last_message=message)
    Topic.objects.filter(pk=topic.pk, last_post_at__lt=now).update(last_post_at=now)
    Topic.objects.filter(pk=topic.pk, first_message__isnull=True).update(first_message=message)
    topic.refresh_from_db(fields=["message_count", "last_post_at", "first_message",
                                  "last_message"])
    if hashtags:
        topic.hashtags.add(*hashtags)
    return message


def lock_inactive_topics(now: datetime) -> int:
    """Lock the topics of groups with auto_lock_days that had no post for that long.

    For a scheduled job: one conditional UPDATE per group, so running it twice,
    or alongside a new reply, never unlocks or double-counts anything. Sticky
    topics are left open (an owner pinned them on purpose). Returns how many
    topics were locked.
    """
    locked = 0
    for group_id, days in Group.objects.filter(auto_lock_days__gt=0).values_list(
            "id", "auto_lock_days"):
        locked += Topic.objects.filter(
            group_id=group_id, locked=False, sticky=False,
            last_post_at__lt=now - timedelta(days=days)).update(locked=True)
    return locked
