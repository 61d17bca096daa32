"""Search on PostgreSQL: the tsvector column, its GIN index, and the queries that use them.

Runs in the PostgreSQL pass (`make test-postgres`: DATABASE_URL points at the
local server, 127.0.0.1:5432). In the SQLite pass it is skipped; when the
server is unreachable it is skipped too, except in CI (CI=true), where that
fails the run.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import in_ci

pytestmark = pytest.mark.postgres

if "search" not in settings.INSTALLED_APPS:
    pytest.skip('"search" is not in INSTALLED_APPS yet', allow_module_level=True)
if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)",
                allow_module_level=True)
try:
    import psycopg

    _db = settings.DATABASES["default"]
    psycopg.connect(host=_db["HOST"] or "127.0.0.1", port=_db["PORT"] or 5432,
                    user=_db["USER"], password=_db["PASSWORD"] or None, dbname="postgres",
                    connect_timeout=3).close()
except Exception as exc:  # unreachable: a failure in CI, a skip elsewhere
    if in_ci():
        raise RuntimeError(f"PostgreSQL is unreachable and CI requires it: {exc}") from exc
    pytest.skip(f"PostgreSQL is unreachable: {exc}", allow_module_level=True)

from tests.search import conftest as shared  # noqa: E402 - after the skips above

archive, people = shared.archive, shared.people  # the search tests' fixtures


@pytest.fixture
def backend():
    import search

    return search.get_backend()


def test_the_database_backend_is_tsvector_with_a_gin_index(db):
    import search

    assert search.get_backend().name == "postgresql-tsvector"
    with connection.cursor() as cursor:
        cursor.execute("SELECT data_type, is_generated FROM information_schema.columns "
                       "WHERE table_name = 'search_document' AND column_name = 'vector'")
        assert cursor.fetchone() == ("tsvector", "ALWAYS")
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'search_document' "
                       "AND indexname = 'search_document_vector_gin'")
        assert "USING gin (vector)" in cursor.fetchone()[0]


def test_a_search_uses_the_gin_index(archive):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # five rows: make the plan honest
        cursor.execute("EXPLAIN SELECT message_id FROM search_document "
                       "WHERE vector @@ plainto_tsquery('english', %s)", ["release"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "search_document_vector_gin" in plan


def test_weighted_ranking_stemming_phrases_and_privacy(archive):
    import search

    bob, charlie = archive["bob"], archive["charlie"]
    ranked = search.query(bob, "release")
    assert ranked.total == 3
    assert ranked.hits[0].subject.startswith(("Release notes", "Re: Release notes"))
    assert [h.subject for h in search.query(bob, "sandwich").hits] == ["Picnic plans"]
    assert search.query(bob, '"release party"').total == 1
    assert search.query(bob, '"party release"').total == 0
    hit = search.query(bob, "owned").hits[0]
    assert "<mark>owned</mark>" in hit.snippet_html and "<script>" not in hit.snippet_html
    assert search.query(charlie, "confidential").total == 0
    assert search.query(archive["sam"], "confidential").total == 1
