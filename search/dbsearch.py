"""The database's own full-text search: what SQLite FTS5 and PostgreSQL share.

Both keep their text in ``search.models.Document``; they differ only in the
SQL of the match (``sqlite_fts`` and ``pg_fts``). Filters (readable groups,
hashtag, author, dates, deleted) are written once here, as SQL on the
document and the archive's message row, so they apply inside the engine's
query: a message the asker may not read is never counted, ranked or quoted.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from groups.models import Hashtag, Message, Topic
from search.backend import MAX_BODY_CHARS, Query, author_of, body_of
from search.models import Document


def document_for(message: Message) -> Document:
    return Document(
        message_id=message.pk, group_id=message.group_id, date=message.date,
        subject=message.subject, body=body_of(message), author=author_of(message),
        author_email=message.sender_email.lower(),
    )


class DatabaseIndex:
    """Indexing is plain ORM writes; the engine's own index follows by trigger or generation."""

    name = "database"

    def index(self, message: Message) -> None:
        self.index_many([message])

    def index_many(self, messages: Iterable[Message]) -> int:
        docs = [document_for(m) for m in messages if not m.deleted]
        if not docs:
            return 0
        with transaction.atomic():
            Document.objects.filter(pk__in=[d.pk for d in docs]).delete()
            Document.objects.bulk_create(docs, batch_size=500)
        return len(docs)

    def remove(self, message_id: int) -> None:
        Document.objects.filter(pk=message_id).delete()

    def rebuild_range(self, first_pk: int, last_pk: int, group_id: int | None = None) -> int:
        """Index the messages with first_pk <= pk <= last_pk in one INSERT ... SELECT.

        The reindex fast path: the text never leaves the database. A message
        with only an HTML body is then given its text in Python (rare).
        """
        table = Message._meta.db_table
        where = "m.id BETWEEN %s AND %s AND m.deleted = %s"
        params: list = [first_pk, last_pk, False]
        if group_id is not None:
            where += " AND m.group_id = %s"
            params.append(group_id)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM search_document WHERE message_id IN "
                           f"(SELECT m.id FROM {table} m WHERE {where})", params)
            cursor.execute(
                "INSERT INTO search_document (message_id, group_id, date, subject, body, "
                "author, author_email) "
                "SELECT m.id, m.group_id, m.date, m.subject, SUBSTR(m.body_text, 1, %s), "
                "CASE WHEN m.sender_name <> '' "
                "THEN m.sender_name || ' <' || m.sender_email || '>' "
                "ELSE m.sender_email END, LOWER(m.sender_email) "
                f"FROM {table} m WHERE {where}", [MAX_BODY_CHARS, *params])
            count = cursor.rowcount
            html_only = list(Message.objects.filter(
                pk__gte=first_pk, pk__lte=last_pk, deleted=False, body_text="")
                .exclude(body_html=""))
            if group_id is not None:
                html_only = [m for m in html_only if m.group_id == group_id]
        if html_only:
            self.index_many(html_only)
        return count

    def clear(self, group_id: int | None = None) -> None:
        docs = Document.objects.all()
        if group_id is not None:
            docs = docs.filter(group_id=group_id)
        docs.delete()


def filter_sql(query: Query) -> tuple[str, list]:
    """The WHERE clauses (on d = search_document, m = groups_message) every match shares."""
    clauses = ["m.deleted = %s"]
    params: list = [False]
    if not query.group_ids:
        clauses.append("1 = 0")
    else:
        clauses.append(f"d.group_id IN ({', '.join(['%s'] * len(query.group_ids))})")
        params += list(query.group_ids)
    if query.hashtag:
        through = Topic.hashtags.through._meta.db_table
        clauses.append(
            f"m.topic_id IN (SELECT th.topic_id FROM {through} th "
            f"JOIN {Hashtag._meta.db_table} h ON h.id = th.hashtag_id "
            "WHERE LOWER(h.name) = LOWER(%s))")
        params.append(query.hashtag.lstrip("#"))
    if query.author:
        if "@" in query.author:
            clauses.append("d.author_email = %s")
            params.append(query.author.strip().lower())
        else:
            clauses.append("LOWER(d.author) LIKE %s")
            params.append("%" + query.author.strip().lower().replace("%", "") + "%")
    if query.date_from is not None:
        clauses.append("d.date >= %s")
        params.append(_db_datetime(query.date_from))
    if query.date_to is not None:
        clauses.append("d.date < %s")
        params.append(_db_datetime(query.date_to))
    return " AND ".join(clauses), params


def _db_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def browse(query: Query) -> tuple[int, list[tuple[int, str]]]:
    """No words, only filters: the newest matching messages, with the start of each body."""
    where, params = filter_sql(query)
    base = (f"FROM search_document d JOIN {Message._meta.db_table} m ON m.id = d.message_id "
            f"WHERE {where}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) {base}", params)
        total = cursor.fetchone()[0]
        cursor.execute(f"SELECT d.message_id, SUBSTR(d.body, 1, 200) {base} "
                       "ORDER BY d.date DESC LIMIT %s OFFSET %s",
                       params + [query.per_page, query.offset])
        rows = [(pk, text or "") for pk, text in cursor.fetchall()]
    return total, rows
