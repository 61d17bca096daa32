"""PostgreSQL full-text search over search_document.vector (tsvector, GIN index).

The query is built from plainto/phraseto_tsquery pieces (querysyntax.to_tsquery),
so what a person types is never parsed as tsquery syntax. ts_headline, which
re-parses the body, runs only for the rows of the page.
"""

from __future__ import annotations

from django.db import connection

from groups.models import Message
from search import querysyntax
from search.backend import MARK_END, MARK_START, Query
from search.dbsearch import DatabaseIndex, browse, filter_sql

HEADLINE = (f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
            "MaxFragments=1, FragmentDelimiter=' … '")


class PostgresFtsBackend(DatabaseIndex):
    name = "postgresql-tsvector"

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        terms = querysyntax.parse(query.text)
        if not querysyntax.positive(terms):
            return browse(query)
        tsquery, tsparams = querysyntax.to_tsquery(terms)
        where, params = filter_sql(query)
        base = (f"FROM search_document d JOIN {Message._meta.db_table} m ON m.id = d.message_id "
                f"WHERE d.vector @@ ({tsquery}) AND {where}")
        params = tsparams + params
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) {base}", params)
            total = cursor.fetchone()[0]
            if total == 0:
                return 0, []
            cursor.execute(
                f"SELECT d.message_id, ts_rank_cd(d.vector, ({tsquery})) AS r {base} "
                "ORDER BY r DESC, d.date DESC LIMIT %s OFFSET %s",
                tsparams + params + [query.per_page, query.offset])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return total, []
            cursor.execute(
                f"SELECT d.message_id, ts_headline('english', translate(d.body, '<>', '  '), ({tsquery}), %s) "
                f"FROM search_document d WHERE d.message_id IN ({', '.join(['%s'] * len(ids))})",
                tsparams + [HEADLINE] + ids)
            snippets = dict(cursor.fetchall())
        return total, [(pk, snippets.get(pk) or "") for pk in ids]
