"""SQLite FTS5 search over ``search_fts`` (external content: search_document).

Ranking uses FTS5's own ``rank`` (bm25 weighted subject 6, body 1, author 2,
configured in search.schema). Snippets are made in a second query for the
page's rows only, so a common word never costs a snippet per match.

The work of one search is bounded, whatever the archive's size: FTS5 walks
its matches newest id first (its doclists are in rowid order, so that costs
nothing) and stops at COUNT_CAP + 1 that pass the filters; those are counted
and ranked. CROSS JOIN keeps FTS5 in the outer loop: driven from a group's
documents instead, SQLite would test MATCH row by row (a millisecond each).
"""

from __future__ import annotations

from django.db import connection

from search import querysyntax
from search.backend import COUNT_CAP, MARK_END, MARK_START, Query
from search.dbsearch import DatabaseIndex, browse, filter_sql, page_of_candidates


class SqliteFtsBackend(DatabaseIndex):
    name = "sqlite-fts5"

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        terms = querysyntax.parse(query.text)
        match = querysyntax.to_fts5(terms)
        if not match:
            return browse(query)
        where, params = filter_sql(query)
        candidates = (
            "SELECT search_fts.rowid AS message_id, search_fts.rank AS r, d.date AS date "
            "FROM search_fts CROSS JOIN search_document d ON d.message_id = search_fts.rowid "
            f"WHERE search_fts MATCH %s AND {where} ORDER BY search_fts.rowid DESC LIMIT %s")
        with connection.cursor() as cursor:
            total, ids = page_of_candidates(cursor, candidates, [match, *params, COUNT_CAP + 1],
                                            "r", [], query)
            if not ids:
                return total, []
            cursor.execute(
                "SELECT rowid, snippet(search_fts, -1, %s, %s, '…', 24) FROM search_fts "
                f"WHERE search_fts MATCH %s AND rowid IN ({', '.join(['%s'] * len(ids))})",
                [MARK_START, MARK_END, match] + ids)
            snippets = dict(cursor.fetchall())
        return total, [(pk, snippets.get(pk) or "") for pk in ids]
