"""SQLite FTS5 search over ``search_fts`` (external content: search_document).

Ranking uses FTS5's own ``rank`` (bm25 weighted subject 6, body 1, author 2,
configured in search.schema). Snippets are made in a second query for the
page's rows only, so a common word never costs a snippet per match.
"""

from __future__ import annotations

from django.db import connection

from groups.models import Message
from search import querysyntax
from search.backend import MARK_END, MARK_START, Query
from search.dbsearch import DatabaseIndex, browse, filter_sql


class SqliteFtsBackend(DatabaseIndex):
    name = "sqlite-fts5"

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        terms = querysyntax.parse(query.text)
        match = querysyntax.to_fts5(terms)
        if not match:
            return browse(query)
        where, params = filter_sql(query)
        base = (f"FROM search_fts JOIN search_document d ON d.message_id = search_fts.rowid "
                f"JOIN {Message._meta.db_table} m ON m.id = d.message_id "
                f"WHERE search_fts MATCH %s AND {where}")
        params = [match] + params
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) {base}", params)
            total = cursor.fetchone()[0]
            if total == 0:
                return 0, []
            cursor.execute(f"SELECT d.message_id {base} ORDER BY search_fts.rank "
                           "LIMIT %s OFFSET %s", params + [query.per_page, query.offset])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return total, []
            cursor.execute(
                "SELECT rowid, snippet(search_fts, -1, %s, %s, '…', 24) FROM search_fts "
                f"WHERE search_fts MATCH %s AND rowid IN ({', '.join(['%s'] * len(ids))})",
                [MARK_START, MARK_END, match] + ids)
            snippets = dict(cursor.fetchall())
        return total, [(pk, snippets.get(pk) or "") for pk in ids]
