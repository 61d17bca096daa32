"""Search over the archives: the one interface the rest of the platform calls.

    from search import index, remove, query
    results = query(request.user, "release notes", groups=["demo"], page=2)
    results.total, results.hits[0].snippet_html

``query`` always filters by what the asking user may read (search.visibility),
inside the engine, so a private group's messages never reach results, counts
or snippets. The backend is the database's own full-text search (SQLite FTS5
or PostgreSQL tsvector, by the database vendor) unless ELASTICSEARCH_URL is
set. messageserver indexes each archived message through the hook registered
in search.apps; deleting a message removes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from search.backend import Hit, Query, Results, SearchBackend, render_snippet

if TYPE_CHECKING:
    from groups.models import Message

__all__ = ["Hit", "Query", "Results", "get_backend", "index", "index_many", "query", "remove"]

MAX_PER_PAGE = 100


@lru_cache(maxsize=1)
def _configured_backend() -> SearchBackend:
    from django.db import connection

    from platformcore.env import get_env

    env = get_env()
    if env.elasticsearch_url:
        from search.elastic import ElasticBackend

        return ElasticBackend(env.elasticsearch_url, env.search_client)
    if connection.vendor == "postgresql":
        from search.pg_fts import PostgresFtsBackend

        return PostgresFtsBackend()
    if connection.vendor == "sqlite":
        from search.sqlite_fts import SqliteFtsBackend

        return SqliteFtsBackend()
    raise RuntimeError(f"no full-text search for the {connection.vendor} database; "
                       "set ELASTICSEARCH_URL")


_override: list[SearchBackend] = []


def get_backend() -> SearchBackend:
    """The backend in use (tests may swap one in with use_backend)."""
    return _override[-1] if _override else _configured_backend()


class use_backend:  # noqa: N801 - used as a context manager
    """Use another backend for a while (tests: an OpenSearch server on a free port)."""

    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend

    def __enter__(self) -> SearchBackend:
        _override.append(self.backend)
        return self.backend

    def __exit__(self, *exc) -> None:
        _override.remove(self.backend)


def index(message: Message) -> None:
    get_backend().index(message)


def index_many(messages: Iterable[Message]) -> int:
    return get_backend().index_many(messages)


def remove(message_or_id: Message | int) -> None:
    pk = int(getattr(message_or_id, "pk", message_or_id))
    get_backend().remove(pk)


def _as_datetime(value: date | datetime | None, end: bool = False) -> datetime | None:
    """A date as the start of that day (or of the next, for an inclusive end), in UTC."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    day = datetime.combine(value, time.min, tzinfo=UTC)
    return day + timedelta(days=1) if end else day


def query(user, q: str, groups=None, hashtag: str | None = None, author: str | None = None,
          date_from: date | datetime | None = None, date_to: date | datetime | None = None,
          has_attachment: bool = False, page: int = 1, per_page: int = 20) -> Results:
    """Search what ``user`` may read. ``date_to`` is inclusive for a date, exclusive for a time.

    ``groups``: None for every readable group, else group objects, ids or names
    (those the user may not read are silently left out, as if they were empty).
    """
    from search.visibility import readable_group_ids

    try:
        page, per_page = max(1, int(page)), min(MAX_PER_PAGE, max(1, int(per_page)))
    except (TypeError, ValueError):
        raise ValueError("page and per_page must be whole numbers") from None
    if groups is not None and not isinstance(groups, (list, tuple, set)) and not hasattr(
            groups, "values_list"):
        groups = [groups]
    spec = Query(
        text=(q or "").strip()[:500], group_ids=readable_group_ids(user, groups),
        hashtag=(hashtag or "").strip(), author=(author or "").strip(),
        date_from=_as_datetime(date_from), date_to=_as_datetime(date_to, end=True),
        has_attachment=bool(has_attachment), page=page, per_page=per_page)
    if not spec.group_ids or not (spec.text or spec.hashtag or spec.author or spec.date_from
                                  or spec.date_to or spec.has_attachment):
        return Results(0, [], page, per_page)
    total, rows = get_backend().search(spec)
    return Results(total, _hits(rows, spec.group_ids), page, per_page)


def _hits(rows: list[tuple[int, str]], group_ids: list[int]) -> list[Hit]:
    """The archive's own rows for the engine's answer, in its order.

    Rows are re-read from the database and re-checked (readable group, not
    deleted): an external engine that lags behind a deletion or a privacy
    change still shows nothing it should not.
    """
    from groups.models import Message

    readable = set(group_ids)  # checked here, not as SQL: a page is 20 rows, the list 1,000s
    found = {m.pk: m for m in Message.objects.filter(
        pk__in=[pk for pk, _ in rows], deleted=False)
        .select_related("group")
        .only("pk", "group_id", "number", "topic_id", "subject", "sender_name", "sender_email",
              "date", "group__name")}
    hits = []
    for pk, snippet in rows:
        m = found.get(pk)
        if m is None or m.group_id not in readable:
            continue
        hits.append(Hit(message_id=m.pk, group=m.group.name, number=m.number,
                        topic_id=m.topic_id, subject=m.subject,
                        author=m.sender_name or m.sender_email, date=m.date,
                        snippet_html=render_snippet(snippet)))
    return hits
