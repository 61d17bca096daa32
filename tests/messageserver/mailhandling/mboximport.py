"""Import an mbox through the real archive path in date order, as the messages arrived.

Each message goes through ``posts.accept`` with ``now`` set to its own date,
so the threading windows apply as they would have on the day. A message
without a Date takes the mbox ``From `` line's date, else the previous one's.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction

from groups.models import Group, Message, Topic
from messageserver import mailparse, posts, threader
from messageserver.inbound import InboundMail

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Imported:
    position: int  # 1-based position in the mbox file
    message: Message
    subject: str  # as received ("" when missing; the archive shows "(no subject)")
    chain: list[str]  # In-Reply-To then References newest first
    topics_before: dict[int, tuple[str, datetime]]  # topic id -> (normalised subject, last post)


def _from_line_date(msg: mailbox.mboxMessage) -> datetime | None:
    parts = (msg.get_from() or "").split(None, 1)
    if len(parts) < 2:
        return None
    text = " ".join(parts[1].split()[:5])
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def read(path: Path, limit: int | None = None) -> list[tuple[int, bytes, datetime]]:
    """(position, raw bytes, arrival date) of the first ``limit`` messages, by date (stable)."""
    box = mailbox.mbox(str(path), create=False)
    out = []
    previous = EPOCH
    for position, msg in enumerate(box, start=1):
        if limit is not None and position > limit:
            break
        raw = msg.as_bytes()
        date = mailparse.parse(raw).date or _from_line_date(msg) or previous
        previous = date
        out.append((position, raw, date))
    box.close()
    return sorted(out, key=lambda item: item[2])


def import_mbox(group: Group, path: Path, limit: int | None = None) -> list[Imported]:
    done: list[Imported] = []
    topics: dict[int, tuple[str, datetime]] = {}
    for position, raw, date in read(path, limit):
        parsed = mailparse.parse(raw)
        inbound = InboundMail(mail_from="", raw=raw, parsed=parsed, now=date, via="import")
        chain = threader.reference_chain(parsed.in_reply_to, parsed.references)
        before = dict(topics)
        with transaction.atomic():
            topic = threader.find_topic(group, parsed.subject, chain, date)
            message = posts.accept(group, inbound, None, topic=topic,
                                   source=Message.Source.IMPORT)
        t = Topic.objects.get(pk=message.topic_id)
        topics[t.pk] = (t.normalized_subject, t.last_post_at)
        done.append(Imported(position, message, parsed.subject, chain, before))
    return done


def expected_topics(row: dict, path: Path) -> list[list[int]]:
    """imaptest's expected threads (1-based positions) as a group's topics.

    The one deliberate difference: ORDEREDSUBJECT puts every message whose base
    subject is empty in one thread, but a group never threads by an empty subject
    (RFC 5256's REFERENCES algorithm skips them too, section 4 step 5.B, and
    thread.mbox expects exactly that), so each such message is a topic of its own.
    """
    if row.get("algorithm") != "ORDEREDSUBJECT":
        return row["groups"]
    box = mailbox.mbox(str(path), create=False)
    empty = {position for position, msg in enumerate(box, start=1)
             if position <= row["messages"]
             and not threader.normalize_subject(mailparse.parse(msg.as_bytes()).subject)}
    box.close()
    topics = []
    for group in row["groups"]:
        rest = [p for p in group if p not in empty]
        topics += ([rest] if rest else []) + [[p] for p in group if p in empty]
    return topics
