"""SQLite FTS5 search over ``search_fts`` (external content: search_document).

Ranking uses FTS5's own ``rank`` (bm25 weighted subject 6, body 1, author 2,
configured in search.schema). Snippets are made in a second query for the
page's rows only, so a common word never costs a snippet per match.

The work of one search is bounded, whatever the archive's size: FTS5 walks
its matches newest id first (its doclists are in rowid order, so that costs
nothing) and stops at COUNT_CAP + 1 that pass the filters; those are counted
and ranked. CROSS JOIN keeps FTS5 in the outer loop: driven from a group's
documents instead, SQLite would test MATCH row by row through the join.

A selective filter (dbsearch.filtered_ids) is applied first instead: up to
WALK ids, FTS5 walks the words' doclist newest first and keeps the ids in the
set (``+rowid IN``: a hash probe per match, no join to the document). Up to
PROBE ids, FTS5 rather looks each id up in the doclist (``rowid IN``, one
seek each), which costs nothing like walking a common word's whole doclist;
those few matches are ranked newest first, because bm25 computes its word
weights anew for every look-up (a walk of the doclist each). A filter that
leaves more, but is a set of ids (hashtag, attachment, author), is tested on
each match's rowid before the match is joined to its document. A walk is bounded
by the set's lowest and highest id (a rowid range FTS5 seeks to), so a filter
whose ids are close together (a week, in an archive whose ids follow the mail's
arrival) walks only its own stretch of the doclist.

PostgreSQL tests a large set's ids in runs instead (dbsearch.newest_matches);
here that finds the candidates (a seek each, 30 µs) but cannot rank them: bm25
would re-read the word's doclist for every seek, and one cursor over the
candidates walks the same stretch of the doclist as the walk above. So the walk
it is, at about 0.2 µs per doclist entry (measured at a million: docs/capacity.md).
"""

from __future__ import annotations

from django.db import connection

from search import querysyntax
from search.backend import COUNT_CAP, MARK_END, MARK_START, Query
from search.dbsearch import (
    DatabaseIndex,
    browse,
    filter_sql,
    filtered_ids,
    id_list,
    page_of_candidates,
)

PROBE, WALK = 2000, 20_000


class SqliteFtsBackend(DatabaseIndex):
    """``probe`` and ``walk`` choose the plan only (tests compare the plans' answers)."""

    name = "sqlite-fts5"

    def __init__(self, probe: int = PROBE, walk: int = WALK) -> None:
        self.probe, self.walk = probe, walk

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        terms = querysyntax.parse(query.text)
        match = querysyntax.to_fts5(terms)
        if not match:
            return browse(query)
        with connection.cursor() as cursor:
            few = filtered_ids(cursor, query, self.walk)
            rank, order = "search_fts.rank", "ORDER BY search_fts.rowid DESC"
            if few is not None and len(few) <= self.probe:  # at most PROBE: all are candidates
                rank = "0"
                where, params = f"search_fts.rowid IN ({id_list(few)})", []
            elif few is not None:  # "+" keeps FTS5 from seeking each id: it walks instead,
                # only over the ids' own stretch of the doclist (a week of a live archive
                # is a short stretch of ids: measured 56 -> 28 ms at a million)
                where, params = (f"+search_fts.rowid IN ({id_list(few)}) AND search_fts.rowid "
                                 f"BETWEEN {int(few[-1])} AND {int(few[0])}"), []
            else:  # "+": a set filter is probed per match, FTS5 still walks its doclist
                where, params = filter_sql(query, ids="+search_fts.rowid")
            candidates = (
                f"SELECT search_fts.rowid AS message_id, {rank} AS r, d.date AS date "
                "FROM search_fts CROSS JOIN search_document d ON d.message_id = search_fts.rowid "
                f"WHERE search_fts MATCH %s AND {where} {order} LIMIT %s")
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
