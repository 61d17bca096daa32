"""The search interface every backend implements, and the shapes it answers in.

Two kinds of backend sit behind it (the database's own full-text search, and
Elasticsearch/OpenSearch); callers only ever see ``Query`` in and ``Results``
out. A backend never decides who may read what: it is handed the ids of the
groups the asker may read (``search.visibility``) and must filter on them
inside the engine, so counts, pages and snippets never include anything else.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.utils.safestring import SafeString, mark_safe

from platformcore.htmltext import html_to_text

if TYPE_CHECKING:
    from groups.models import Message

# Highlight markers: put round matched words by the engine, turned into <mark>
# only after the text between them has been HTML-escaped (render_snippet).
MARK_START = "\x02"
MARK_END = "\x03"

MAX_BODY_CHARS = 100_000  # what is indexed of one body; tsvector's limit is 1 MB

# A search counts its matches up to COUNT_CAP and then only says "more than"
# (a backend answers COUNT_CAP + 1), as big search sites do: counting, and
# ranking, every match of a common word would cost time in proportion to the
# archive. Twenty to a page, that is the 50 pages the website offers.
COUNT_CAP = 1000


@dataclass(frozen=True)
class Query:
    """One search, already narrowed to the groups the asker may read."""

    text: str
    group_ids: list[int]
    hashtag: str = ""
    author: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive
    has_attachment: bool = False  # only messages that carry at least one attachment
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class Hit:
    message_id: int  # Message.pk
    group: str
    number: int
    topic_id: int
    subject: str
    author: str
    date: datetime
    snippet_html: SafeString
    group_title: str = ""  # what people call the group (its title, else its name)


@dataclass(frozen=True)
class Results:
    total: int
    hits: list[Hit] = field(default_factory=list)
    page: int = 1
    per_page: int = 20

    @property
    def capped(self) -> bool:
        """More matches than were counted: ``total`` is then COUNT_CAP + 1, "more than 1,000"."""
        return self.total > COUNT_CAP

    @property
    def shown_total(self) -> int:
        return min(self.total, COUNT_CAP)

    @property
    def pages(self) -> int:
        return max(1, -(-self.shown_total // self.per_page))


class SearchBackend(Protocol):
    """What the rest of the platform may ask of a search engine."""

    name: str

    def index(self, message: Message) -> None:
        """Add or replace one message (called after it is archived)."""

    def index_many(self, messages: Iterable[Message]) -> int:
        """Add or replace many messages in bulk; returns how many were indexed."""

    def remove(self, message_id: int) -> None:
        """Forget one message (deleted); unknown ids are not an error."""

    def clear(self, group_id: int | None = None) -> None:
        """Forget everything, or one group's messages (before a reindex)."""

    def missing(self, message_ids: list[int]) -> set[int]:
        """Which of these message pks the index lacks (search.catchup indexes them)."""

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        """(total, [(message pk, snippet with MARK_START/MARK_END)]) in rank order.

        ``total`` is exact up to COUNT_CAP; COUNT_CAP + 1 means "more". An
        engine that cannot rank every match cheaply may then rank only COUNT_CAP
        + 1 of them, the most recently archived first (as the database backends
        do; see pg_fts and sqlite_fts for exactly which).
        """


def body_of(message: Message) -> str:
    """The text indexed for a message: its plain body, else its HTML as text."""
    text = message.body_text
    if not text.strip() and message.body_html:
        text = html_to_text(message.body_html)
    return text[:MAX_BODY_CHARS]


def author_of(message: Message) -> str:
    name = message.sender_name.strip()
    return f"{name} <{message.sender_email}>" if name else message.sender_email


_MARKED = re.compile(re.escape(MARK_START) + "(.*?)" + re.escape(MARK_END), re.DOTALL)


def render_snippet(raw: str, start: str = MARK_START, end: str = MARK_END) -> SafeString:
    """Escape an engine's snippet and turn its markers into <mark> (never trusts the text)."""
    pattern = _MARKED if (start, end) == (MARK_START, MARK_END) else re.compile(
        re.escape(start) + "(.*?)" + re.escape(end), re.DOTALL)
    out, pos = [], 0
    for m in pattern.finditer(raw or ""):
        out.append(html.escape(_strip(raw[pos:m.start()], start, end)))
        out.append(f"<mark>{html.escape(_strip(m.group(1), start, end))}</mark>")
        pos = m.end()
    out.append(html.escape(_strip((raw or "")[pos:], start, end)))
    return mark_safe(" ".join("".join(out).split()))  # noqa: S308 - every text part escaped


def _strip(text: str, start: str, end: str) -> str:
    return text.replace(start, "").replace(end, "")
