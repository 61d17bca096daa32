"""The database's own full-text search: what SQLite FTS5 and PostgreSQL share.

Both keep their text in ``search.models.Document``; they differ only in the
SQL of the match (``sqlite_fts`` and ``pg_fts``). Filters (readable groups,
hashtag, author, dates, deleted) are written once here, as SQL on the
document and the archive's message row, so they apply inside the engine's
query: a message the asker may not read is never counted, ranked or quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext

from django.db import connection, transaction
from django.db.models import Sum

from groups.models import Attachment, Group, Hashtag, Message, Topic
from search.backend import COUNT_CAP, MAX_BODY_CHARS, Query, author_of, body_of
from search.models import Document


def document_for(message: Message, has_attachment: bool) -> Document:
    return Document(
        message_id=message.pk, group_id=message.group_id, date=message.date,
        subject=message.subject, body=body_of(message), author=author_of(message),
        author_email=message.sender_email.lower(), has_attachment=has_attachment,
    )


class DatabaseIndex:
    """Indexing is plain ORM writes; the engine's own index follows by trigger or generation."""

    name = "database"

    def index(self, message: Message) -> None:
        self.index_many([message])

    def index_many(self, messages: Iterable[Message]) -> int:
        live = [m for m in messages if not m.deleted]
        if not live:
            return 0
        with_files = set(Attachment.objects.filter(message_id__in=[m.pk for m in live])
                         .values_list("message_id", flat=True))
        docs = [document_for(m, m.pk in with_files) for m in live]
        with transaction.atomic():
            Document.objects.filter(pk__in=[d.pk for d in docs]).delete()
            Document.objects.bulk_create(docs, batch_size=500)
        return len(docs)

    def remove(self, message_id: int) -> None:
        Document.objects.filter(pk=message_id).delete()

    def missing(self, message_ids: list[int]) -> set[int]:
        return set(message_ids) - set(Document.objects.filter(pk__in=message_ids)
                                      .values_list("pk", flat=True))

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
                "author, author_email, has_attachment) "
                "SELECT m.id, m.group_id, m.date, m.subject, SUBSTR(m.body_text, 1, %s), "
                "CASE WHEN m.sender_name <> '' "
                "THEN m.sender_name || ' <' || m.sender_email || '>' "
                "ELSE m.sender_email END, LOWER(m.sender_email), "
                f"EXISTS (SELECT 1 FROM {Attachment._meta.db_table} a WHERE a.message_id = m.id) "
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
        if (group_id is None and connection.vendor == "postgresql"
                and not connection.in_atomic_block):  # a caller's transaction may hold
            with connection.cursor() as cursor:  # rows TRUNCATE refuses to drop mid-way
                cursor.execute(f"TRUNCATE {Document._meta.db_table}")  # at once, no dead rows
            return
        docs = Document.objects.all()
        if group_id is not None:
            docs = docs.filter(group_id=group_id)
        docs.delete()

    @contextmanager
    def rebuilding(self, whole: bool) -> Iterator[None]:
        """Around a whole reindex: the engine's indexes left as one build would make them.

        PostgreSQL: the GIN indexes (words, author trigrams) are dropped and
        built once after. Kept up to date row by row, the words' index costs a
        third of a million-message reindex; one sorted build at the end costs
        far less. Searches meanwhile find an index half filled anyway. The
        indexes come back even if the reindex fails.

        SQLite: the FTS5 tables are merged into one segment each afterwards
        ('optimize'). A bulk load leaves dozens, and a search that looks ids
        up in a doclist (a selective filter, sqlite_fts) seeks in every one.
        """
        if not whole or connection.in_atomic_block or connection.vendor not in (
                "postgresql", "sqlite"):
            yield  # (inside a caller's transaction, pending row checks forbid the rebuild)
            return
        from search import schema

        if connection.vendor == "sqlite":
            yield
            with connection.cursor() as cursor:
                for table in ("search_fts", "search_author"):
                    cursor.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
            return
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {schema.PG_GIN_INDEX}")
            cursor.execute(f"DROP INDEX IF EXISTS {schema.PG_TRIGRAM_INDEX}")
        try:
            yield
        finally:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
                cursor.execute(schema.PG_GIN)
                schema.ensure(connection)  # the author's trigram index, if pg_trgm is there
                cursor.execute(f"ANALYZE {Document._meta.db_table}")


# Up to this many groups, a search may reach documents through the group's index;
# beyond (an anonymous visitor reads every public group) the group is checked on
# each matching row instead: PostgreSQL would otherwise build a bitmap of every
# document of those groups, most of the archive, to AND with the words' bitmap.
INDEXED_GROUPS = 8
# A search with filters only lists the newest first; up to this many documents the
# filter's own ids are sorted by date, beyond it the date index is walked.
BROWSE_FIRST = 5000


def filter_sql(query: Query, ids: str = "d.message_id") -> tuple[str, list]:
    """The WHERE clauses (on d = search_document) every match shares.

    The readable groups are the privacy rule (search.visibility) and apply
    inside the engine's query, so they bound counts, ranks and snippets alike.
    A deleted message is left out even if its document outlived it (its
    removal runs after the commit), through a partial index of the deleted
    few (search.schema) rather than a join to every matching message.

    ``ids`` is the message id the set filters (hashtag, attachment, author)
    test: SQLite's FTS5 search passes its own rowid, so those sets are checked
    on each match before it is joined to its document.
    """
    table = Message._meta.db_table
    if connection.vendor == "sqlite":  # the deleted few gathered once from the partial index;
        clauses = [f"d.message_id NOT IN (SELECT dm.id FROM {table} dm WHERE dm.deleted)"]
    else:  # (SQLite would probe the message table's own b-tree for each row instead)
        clauses = [f"NOT EXISTS (SELECT 1 FROM {table} dm WHERE dm.id = d.message_id "
                   "AND dm.deleted)"]
    params: list = []
    if not query.group_ids:
        clauses.append("1 = 0")
    else:
        column = "d.group_id" if len(query.group_ids) <= INDEXED_GROUPS else "d.group_id + 0"
        if connection.vendor == "postgresql":  # one array parameter, not 1,000 placeholders
            clauses.append(f"{column} = ANY(%s::bigint[])")
            params.append(list(query.group_ids))
        else:
            clauses.append(f"{column} IN ({', '.join(['%s'] * len(query.group_ids))})")
            params += list(query.group_ids)
    if query.hashtag:  # the tagged topics' messages, gathered once (not probed per match)
        through = Topic.hashtags.through._meta.db_table
        clauses.append(
            f"{ids} IN (SELECT hm.id FROM {table} hm "
            f"JOIN {through} th ON th.topic_id = hm.topic_id "
            f"JOIN {Hashtag._meta.db_table} h ON h.id = th.hashtag_id "
            "WHERE LOWER(h.name) = LOWER(%s))")
        params.append(query.hashtag.lstrip("#"))
    if query.has_attachment:  # the document's own flag; from the partial index as a set
        clauses.append("d.has_attachment" if ids == "d.message_id" else
                       f"{ids} IN (SELECT fd.message_id FROM search_document fd "
                       f"WHERE fd.has_attachment)")
    if query.author:
        clause, value = _author_clause(query.author.strip(), ids)
        clauses.append(clause)
        params.append(value)
    if query.date_from is not None:
        clauses.append("d.date >= %s")
        params.append(_db_datetime(query.date_from))
    if query.date_to is not None:
        clauses.append("d.date < %s")
        params.append(_db_datetime(query.date_to))
    return " AND ".join(clauses), params


def _author_clause(author: str, ids: str) -> tuple[str, str]:
    """An address: that sender exactly. Else any part of "Name <address>", ignoring case.

    The part is found through the trigram index (search.schema): FTS5's trigram
    table on SQLite (LIKE, three characters at least and no wildcard character,
    which would need an ESCAPE that the index cannot serve), pg_trgm's on
    PostgreSQL.
    """
    if "@" in author:
        return "d.author_email = %s", author.lower()
    plain = not any(c in author for c in "%_\\")
    if connection.vendor == "sqlite" and len(author) >= 3 and plain:  # no ESCAPE: no index
        return (f"{ids} IN (SELECT rowid FROM search_author WHERE author LIKE %s)",
                f"%{author}%")
    escaped = author.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "LOWER(d.author) LIKE %s ESCAPE '\\'", f"%{escaped}%"


def narrowed(query: Query, limit: int) -> bool:
    """Whether a filter may leave at most ``limit`` documents: worth applying first.

    Groups alone are judged by their messages' numbers (Group.last_message_number,
    the count of what they archived): counting a large group's documents costs
    more than the search it would save.
    """
    if query.author or query.hashtag or query.has_attachment or query.date_from \
            or query.date_to:
        return True
    if len(query.group_ids) > INDEXED_GROUPS:
        return False
    archived = Group.objects.filter(pk__in=query.group_ids).aggregate(
        n=Sum("last_message_number"))["n"]
    return (archived or 0) <= limit


def filtered_ids(cursor, query: Query, limit: int) -> list[int] | None:
    """The ids the filters alone leave, newest first, if at most ``limit``; else None.

    A filter that leaves few documents (one author, a small group, a week, the
    messages with a file, a hashtag) is applied first and the words are then
    matched among those few (``newest_matches``): the other way round, a common
    word's every match would be read to find the few that pass. Costs an index
    look-up, and at most ``limit`` + 1 ids read when the filter turns out not to
    be selective (groups alone are judged without reading: ``narrowed``). The
    has-attachment filter's ids come with their groups from one partial index
    (search_doc_attachment), so they are read without a document look-up each.
    """
    if not narrowed(query, limit):
        return None
    where, params = filter_sql(query)
    postgresql = connection.vendor == "postgresql"
    # PostgreSQL: SET LOCAL needs a transaction. SQLite's would take the write lock
    # (Django begins IMMEDIATE) for a read, queueing the search behind every writer.
    with transaction.atomic() if postgresql else nullcontext():
        if postgresql:  # the filter's own index, never a scan that reads the table
            cursor.execute("SET LOCAL enable_seqscan = off")  # to the limit
        cursor.execute(f"SELECT d.message_id FROM search_document d WHERE {where} LIMIT %s",
                       params + [limit + 1])
        ids = [int(pk) for pk, in cursor.fetchall()]
    if len(ids) > limit:
        return None
    ids.sort(reverse=True)
    return ids


def newest_matches(ids: list[int], matching: Callable[[list[int]], Iterable[int]],
                   want: int = COUNT_CAP + 1, first: int | None = None) -> list[int]:
    """The newest ``want`` of ``ids`` (newest first) that ``matching`` keeps, newest first.

    The filter's set drives: its ids are handed to ``matching`` (the words,
    tested on just those rows by the engine) in runs, newest first, and the
    runs stop once ``want`` matched. A word in almost every message is then
    tested on about ``want`` rows, not on the whole set; a rare word, after a
    first run that matched little, on the rest in one run, where the engine
    ANDs the set with the word's own index. Each run's size comes from the
    share of matches so far. The answer is the same whatever the runs (``first``,
    the first run's size, is for tests): they are disjoint and in id order, so
    the first ``want`` found are the newest.
    """
    found: list[int] = []
    done, size = 0, first or want + want // 4
    while done < len(ids) and len(found) < want:
        run = ids[done:done + size]
        found += sorted((int(pk) for pk in matching(run)), reverse=True)
        done += len(run)
        need = want - len(found)
        share = len(found) / done
        size = len(ids) if share == 0 else int(need / share * 1.25) + 100
    return found[:want]


def id_list(ids: list[int]) -> str:
    """Ids (integers read from the database) as an SQL list: one literal each, no parameter.

    SQLite allows 32,766 parameters to a statement; a filter's ids may be more.
    """
    return ", ".join(str(int(pk)) for pk in ids) or "NULL"


def _db_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def browse(query: Query) -> tuple[int, list[tuple[int, str]]]:
    """No words, only filters: the newest matching messages, with the start of each body."""
    with connection.cursor() as cursor:
        # A set filter (author, hashtag, attachment) that leaves few: sort those by date, as
        # the date index would be walked across the archive to find them. Dates and groups
        # alone are a range of that index already.
        sets = query.author or query.hashtag or query.has_attachment
        ids = filtered_ids(cursor, query, BROWSE_FIRST) if sets else None
        if ids is not None:
            return _browse_ids(cursor, ids, query)
        where, params = filter_sql(query)
        base = f"FROM search_document d WHERE {where}"
        cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 {base} LIMIT %s) counted",
                       params + [COUNT_CAP + 1])
        total = cursor.fetchone()[0]
        cursor.execute(f"SELECT d.message_id, SUBSTR(d.body, 1, 200) {base} "
                       "ORDER BY d.date DESC, d.message_id DESC LIMIT %s OFFSET %s",
                       params + [query.per_page, query.offset])
        rows = [(pk, text or "") for pk, text in cursor.fetchall()]
    return total, rows


def _browse_ids(cursor, ids: list[int], query: Query) -> tuple[int, list[tuple[int, str]]]:
    """The page of ``ids`` (every filter already passed), newest first, and their count.

    The ids are the filters' whole answer (``filtered_ids``), so they are the
    count. They are sorted on their dates alone and only the page's bodies are
    read: sorting whole documents read every body and vector of the set
    (#announce at a million, 3,671 documents: 26 ms on PostgreSQL, 7.6 on dates).
    """
    if connection.vendor == "postgresql":  # one array; OFFSET 0 so that the planner
        source, params = (  # fetches the ids and sorts, rather than walk the date index
            "(SELECT message_id, date FROM search_document WHERE message_id = "
            "ANY(%s::bigint[]) OFFSET 0) d", [ids])
    else:
        source, params = f"search_document d WHERE d.message_id IN ({id_list(ids)})", []
    cursor.execute(f"SELECT d.message_id FROM {source} ORDER BY d.date DESC, d.message_id DESC "
                   "LIMIT %s OFFSET %s", params + [query.per_page, query.offset])
    page, bodies = [int(pk) for pk, in cursor.fetchall()], {}
    if page:
        cursor.execute("SELECT message_id, SUBSTR(body, 1, 200) FROM search_document "
                       f"WHERE message_id IN ({id_list(page)})")
        bodies = dict(cursor.fetchall())
    return min(len(ids), COUNT_CAP + 1), [(pk, bodies.get(pk) or "") for pk in page]


def page_of_candidates(cursor, candidates: str, params: list, order: str, order_params: list,
                       query: Query) -> tuple[int, list[int]]:
    """(total, the page's ids) from ``candidates``: SQL of at most COUNT_CAP + 1 matches.

    The candidates (columns message_id, date and what ``order`` reads) are
    counted and ordered in one statement; only a page past the end needs a
    second one for the count. Ties go to the newest, so pages never overlap.
    """
    cursor.execute(f"WITH c AS ({candidates}) SELECT message_id, COUNT(*) OVER () FROM c "
                   f"ORDER BY {order}, date DESC, message_id DESC LIMIT %s OFFSET %s",
                   params + order_params + [query.per_page, query.offset])
    rows = cursor.fetchall()
    if rows:
        return rows[0][1], [pk for pk, _ in rows]
    if query.offset == 0:
        return 0, []
    cursor.execute(f"WITH c AS ({candidates}) SELECT COUNT(*) FROM c", params)
    return cursor.fetchone()[0], []
