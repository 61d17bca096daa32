"""Which topic a message belongs to.

References first: In-Reply-To, then References from the newest back. Failing
that, the subject with reply/forward prefixes and the group's subject tag
stripped, within Groups.io's windows: a subject that starts with a reply
prefix joins a topic active in the last 30 days, any other subject only a
topic active in the last 2 days.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from groups.models import Group, Message, Topic

REPLY_WINDOW = timedelta(days=30)
NEW_SUBJECT_WINDOW = timedelta(days=2)

_PREFIX = re.compile(
    r"^\s*(?:re|fw|fwd|aw|sv|vs|antw|wg|tr|rif|ref|odp|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_REPLY = re.compile(r"^\s*(?:re|aw|sv|vs|antw|rif|ref|odp|r)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
                    re.IGNORECASE)
_HASHTAG = re.compile(r"(?:^|(?<=[\s\[(]))#([A-Za-z0-9][\w-]{0,62})")


def strip_tag(subject: str, tag: str) -> str:
    if not tag:
        return subject
    bracket = tag if tag.startswith("[") else f"[{tag}]"
    return re.sub(re.escape(bracket), "", subject, flags=re.IGNORECASE)


def clean_subject(subject: str, tag: str = "") -> str:
    """The subject as a person reads it: no Re:/Fwd: chains, no subject tag."""
    previous = None
    s = subject or ""
    while s != previous:
        previous = s
        s = strip_tag(s, tag)
        s = _PREFIX.sub("", s)
    return " ".join(s.split())


def normalize_subject(subject: str, tag: str = "") -> str:
    """The key topics are matched on."""
    return clean_subject(subject, tag).lower()[:500]


def is_reply_subject(subject: str, tag: str = "") -> bool:
    return bool(_REPLY.match(strip_tag(subject or "", tag)))


def hashtags_in(subject: str) -> list[str]:
    seen: list[str] = []
    for name in _HASHTAG.findall(subject or ""):
        if name.lower() not in (s.lower() for s in seen):
            seen.append(name)
    return seen


def find_topic(group: Group, subject: str, message_ids: list[str],
               now: datetime) -> Topic | None:
    """The topic a message joins, or None for a new topic.

    ``message_ids`` are In-Reply-To first, then References newest first.
    """
    ids = [m for m in message_ids if m]
    if ids:
        found = dict(
            Message.objects.filter(group=group, message_id__in=ids).values_list(
                "message_id", "topic_id")
        )
        for mid in ids:
            if mid in found:
                return Topic.objects.get(pk=found[mid])
    key = normalize_subject(subject, group.subject_tag)
    if not key:
        return None
    window = REPLY_WINDOW if is_reply_subject(subject, group.subject_tag) else NEW_SUBJECT_WINDOW
    return (
        Topic.objects.filter(group=group, normalized_subject=key,
                             last_post_at__gte=now - window)
        .order_by("-last_post_at")
        .first()
    )


def reference_chain(in_reply_to: str, references: list[str]) -> list[str]:
    chain = [in_reply_to] if in_reply_to else []
    chain += [r for r in reversed(references) if r != in_reply_to]
    return chain
