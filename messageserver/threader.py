"""Which topic a message belongs to.

References first: In-Reply-To, then References from the newest back. Failing
that, the subject's base form (``normalize_subject``: RFC 5256 section 2.1's
base subject, with the group's own subject tag removed wherever it stands),
within Groups.io's windows: a subject whose first reply/forward prefix is a
reply prefix joins a topic active in the last 30 days, any other subject only
a topic active in the last 2 days.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from groups.models import Group, Message, Topic

REPLY_WINDOW = timedelta(days=30)
NEW_SUBJECT_WINDOW = timedelta(days=2)

# RFC 5256's subj-refwd is "re" / "fw" / "fwd"; mail clients in other languages
# write these words instead (AW, SV, VS, Antw, WG, TR, RIF, Odp, R, ...). Only the
# first group are replies: a forward starts a new conversation.
_REPLY_WORDS = ("re", "aw", "sv", "vs", "antw", "rif", "ref", "odp", "r")
_FORWARD_WORDS = ("fwd", "fw", "wg", "tr")
_WORD = "|".join(sorted(_REPLY_WORDS + _FORWARD_WORDS, key=len, reverse=True))
# subj-blob: "[" *BLOBCHAR "]" *WSP
_BLOB = r"\[[^\[\]]*\][ \t]*"
# subj-refwd, plus the "Re(2):" counters some clients write and the full-width colon
_REFWD = rf"(?P<word>{_WORD})[ \t]*(?:{_BLOB}|\(\d+\)[ \t]*)?[:：]"
_LEADER = re.compile(rf"(?:{_BLOB})*{_REFWD}|[ \t]+", re.IGNORECASE)
_BLOB_PREFIX = re.compile(_BLOB)
_TRAILER = re.compile(r"(?:\(fwd\)|[ \t])+$", re.IGNORECASE)
_FWD_HEADER, _FWD_TRAILER = "[fwd:", "]"
_PREFIX = re.compile(rf"^\s*{_REFWD}\s*", re.IGNORECASE)
_HASHTAG = re.compile(r"(?:^|(?<=[\s\[(]))#([A-Za-z0-9][\w-]{0,62})")


def strip_tag(subject: str, tag: str) -> str:
    if not tag:
        return subject
    bracket = tag if tag.startswith("[") else f"[{tag}]"
    return re.sub(re.escape(bracket), "", subject, flags=re.IGNORECASE)


def clean_subject(subject: str, tag: str = "") -> str:
    """The subject as a person reads it: no Re:/Fwd: chains, no subject tag.

    Other lists' tags and "(fwd)" trailers stay: they are part of what people
    see (a topic titled "[PATCH v2] ..." says something); only the threading key
    drops them.
    """
    previous = None
    s = subject or ""
    while s != previous:
        previous = s
        s = strip_tag(s, tag)
        s = _PREFIX.sub("", s)
    return " ".join(s.split())


def _base(subject: str, tag: str) -> tuple[str, str]:
    """RFC 5256 section 2.1's base subject, and the first re/fwd word it dropped ("" if none).

    The steps are the RFC's (the caller has already decoded encoded words):
    (1) collapse white space; (2) drop trailing "(fwd)"s; (3) drop leading
    "[blob]... Re:" leaders; (4) drop a leading [blob] unless nothing would be
    left; (5) repeat 3-4; (6) unwrap "[fwd: ... ]" and start again at (2).
    """
    s = " ".join(strip_tag(subject or "", tag).split())
    first_word = ""
    while True:
        s = _TRAILER.sub("", s)
        while True:
            before = s
            while (m := _LEADER.match(s)) and m.end() > 0:
                if m.group("word") and not first_word:
                    first_word = m.group("word").lower()
                s = s[m.end():]
            blob = _BLOB_PREFIX.match(s)
            if blob and s[blob.end():]:
                s = s[blob.end():]
            if s == before:
                break
        if (s[:len(_FWD_HEADER)].lower() == _FWD_HEADER and s.endswith(_FWD_TRAILER)
                and len(s) > len(_FWD_HEADER)):
            s = s[len(_FWD_HEADER):-len(_FWD_TRAILER)]
            continue
        return s, first_word


def normalize_subject(subject: str, tag: str = "") -> str:
    """The key topics are matched on: the base subject, lower-cased ("" when nothing is left)."""
    return _base(subject, tag)[0].lower()[:500]


def is_reply_subject(subject: str, tag: str = "") -> bool:
    """Does the subject's first reply/forward prefix (after any [tags]) say "reply"?"""
    _, word = _base(subject, tag)
    return word in _REPLY_WORDS


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
        # No subject to go by: never thread by it (RFC 5256 REFERENCES, section 4 step 5.B).
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
