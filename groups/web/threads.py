"""A topic's reply tree, from the In-Reply-To and References each message was archived with.

Computed when the threaded page is read, not stored: the headers are already
on every row, and a message moved, split or deleted by a moderator simply
finds its new place next time. A message's parent is the message it answers
(In-Reply-To), else the nearest of its References, provided that one is in
this topic and came before it; otherwise it starts a branch of its own at the
top level (as a reply whose original was never archived does). Requiring the
parent to come first means no set of headers, however odd, can make a loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

MAX_INDENT = 8  # deeper replies are drawn at this depth, or a phone's column would vanish


@dataclass(frozen=True)
class Row:
    """What threading needs of one message (a values() row of the topic's messages)."""

    pk: int
    number: int
    date: datetime
    message_id: str
    in_reply_to: str
    references: str


@dataclass(frozen=True)
class Placed:
    pk: int
    depth: int  # 0 at the top level
    parent_pk: int | None


def _key(message_id: str) -> str:
    return message_id.strip().strip("<>").strip().lower()


def thread(rows: Iterable[Row]) -> list[Placed]:
    """Depth-first order: each message followed by its replies, replies oldest first."""
    ordered = sorted(rows, key=lambda r: (r.date, r.number))
    position = {r.pk: i for i, r in enumerate(ordered)}
    by_id: dict[str, Row] = {}
    for r in ordered:
        by_id.setdefault(_key(r.message_id), r)
    children: dict[int | None, list[Row]] = {}
    parent_of: dict[int, int | None] = {}
    for r in ordered:
        parent = None
        for ref in [r.in_reply_to, *reversed(r.references.split())]:
            found = by_id.get(_key(ref)) if ref.strip() else None
            if found is not None and position[found.pk] < position[r.pk]:
                parent = found.pk
                break
        parent_of[r.pk] = parent
        children.setdefault(parent, []).append(r)
    out: list[Placed] = []
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    while stack:
        r, depth = stack.pop()
        out.append(Placed(r.pk, depth, parent_of[r.pk]))
        stack.extend((c, depth + 1) for c in reversed(children.get(r.pk, [])))
    return out


def indent(depth: int) -> int:
    return min(depth, MAX_INDENT)
