"""The engine-specific parts of the search schema, created idempotently.

Called by this app's migration and again after every ``migrate`` (post_migrate),
because the test suite builds its tables without migrations (--nomigrations)
and the RunSQL of a migration would otherwise never run there.

- SQLite: an FTS5 table with external content (search_document), Porter
  stemming and diacritics folding, kept in step by three triggers (the update
  trigger only when the text changes: setting a flag such as has_attachment leaves
  the FTS5 tables, and their merged segments, alone).
- PostgreSQL: a generated, weighted tsvector column (subject A, author B,
  body C) and a GIN index on it. Angle brackets are blanked first: mail is
  plain text, and PostgreSQL's parser would otherwise drop "<...>" as an HTML
  tag (and the text of a <script> element with it).
- Both: a partial index of the deleted messages (ids only), so a search
  leaves them out without joining every match to the message table.
- Both: a trigram index of the author ("Name <address>"), so the author
  filter (any part of a name or an address, case-insensitive) is an index
  look-up instead of a scan of every document: on SQLite a second FTS5 table
  with the trigram tokenizer (external content, its own triggers), filled
  from the documents when it is first created; on PostgreSQL a GIN index of
  LOWER(author) with pg_trgm's operator class (pg_trgm ships with
  PostgreSQL and is a trusted extension; where it cannot be created, the
  filter still works, by scanning).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# Both engines: the few deleted messages, so filter_sql leaves them out with a
# probe into this small index instead of a join to every matching message.
COMMON = [
    "CREATE INDEX IF NOT EXISTS search_message_deleted ON groups_message (id) WHERE deleted",
]

SQLITE = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
        subject, body, author,
        content='search_document', content_rowid='message_id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    "INSERT INTO search_fts(search_fts, rank) VALUES('rank', 'bm25(6.0, 1.0, 2.0)')",
    """CREATE TRIGGER IF NOT EXISTS search_document_ai AFTER INSERT ON search_document BEGIN
        INSERT INTO search_fts(rowid, subject, body, author)
        VALUES (new.message_id, new.subject, new.body, new.author);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_document_ad AFTER DELETE ON search_document BEGIN
        INSERT INTO search_fts(search_fts, rowid, subject, body, author)
        VALUES ('delete', old.message_id, old.subject, old.body, old.author);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_document_au
        AFTER UPDATE OF message_id, subject, body, author ON search_document BEGIN
        INSERT INTO search_fts(search_fts, rowid, subject, body, author)
        VALUES ('delete', old.message_id, old.subject, old.body, old.author);
        INSERT INTO search_fts(rowid, subject, body, author)
        VALUES (new.message_id, new.subject, new.body, new.author);
    END""",
]

# The author filter's trigram index (SQLite); created empty, so filled once from the documents.
# Triggers made before migration 0004 fired on every update; it drops them to be made anew.
SQLITE_UPDATE_TRIGGERS = ("search_document_au", "search_author_au")
SQLITE_AUTHOR = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_author USING fts5(
        author, content='search_document', content_rowid='message_id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS search_author_ai AFTER INSERT ON search_document BEGIN
        INSERT INTO search_author(rowid, author) VALUES (new.message_id, new.author);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_author_ad AFTER DELETE ON search_document BEGIN
        INSERT INTO search_author(search_author, rowid, author)
        VALUES ('delete', old.message_id, old.author);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_author_au
        AFTER UPDATE OF message_id, author ON search_document BEGIN
        INSERT INTO search_author(search_author, rowid, author)
        VALUES ('delete', old.message_id, old.author);
        INSERT INTO search_author(rowid, author) VALUES (new.message_id, new.author);
    END""",
]

PG_TRIGRAM_INDEX = "search_document_author_trgm"
PG_TRIGRAM = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS {PG_TRIGRAM_INDEX} ON search_document "
    "USING gin (LOWER(author) gin_trgm_ops)",
]

PG_GIN_INDEX = "search_document_vector_gin"  # dropped and rebuilt around a whole reindex
PG_GIN = f"CREATE INDEX IF NOT EXISTS {PG_GIN_INDEX} ON search_document USING gin (vector)"

POSTGRESQL = [
    """ALTER TABLE search_document ADD COLUMN IF NOT EXISTS vector tsvector
        GENERATED ALWAYS AS (
            setweight(to_tsvector('english', coalesce(subject, '')), 'A') ||
            setweight(to_tsvector('english', translate(coalesce(author, ''), '<>', '  ')), 'B') ||
            setweight(to_tsvector('english', translate(coalesce(body, ''), '<>', '  ')), 'C')
        ) STORED""",
    PG_GIN,
]


def statements(vendor: str) -> list[str]:
    engine = {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(vendor)
    return COMMON + engine if engine is not None else []


def ensure(connection) -> None:
    """Create what is missing on this connection's database (safe to run again)."""
    todo = statements(connection.vendor)
    if not todo or "search_document" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        for sql in todo:
            cursor.execute(sql)
    if connection.vendor == "sqlite":
        _ensure_sqlite_author(connection)
    elif connection.vendor == "postgresql":
        _ensure_pg_trigram(connection)


def _ensure_sqlite_author(connection) -> None:
    """The author trigram table and triggers; filled from the documents when new."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_author'")
        new = cursor.fetchone() is None
        for sql in SQLITE_AUTHOR:
            cursor.execute(sql)
        if new:  # an archive indexed before this table existed
            cursor.execute("INSERT INTO search_author(search_author) VALUES ('rebuild')")


def _ensure_pg_trigram(connection) -> None:
    """pg_trgm and the author index, if this server lets us (else the filter scans)."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for sql in PG_TRIGRAM:
                cursor.execute(sql)
    except DatabaseError as exc:
        log.warning("no trigram index for the author filter (%s); it will scan", exc)



def ensure_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """post_migrate receiver."""
    from django.db import connections

    ensure(connections[using])
