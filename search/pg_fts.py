"""PostgreSQL full-text search over search_document.vector (tsvector, GIN index).

The query is built from plainto/phraseto_tsquery pieces (querysyntax.to_tsquery),
so what a person types is never parsed as tsquery syntax. ts_headline, which
re-parses the body, runs only for the rows of the page.

The work of one search is bounded, whatever the archive's size: the GIN index
finds the matching documents, and at most COUNT_CAP + 1 of them are read,
counted and ranked, the most recently archived first. The newest message ids
are cut into slices growing fourfold (1,000 ids, then 3,000, 12,000, 48,000),
then the rest, one UNION ALL branch each; the LIMIT stops the scan as soon as
enough matches are found. So every match among the newest 64,000 messages is
considered, and a common word is served from the first slices; beyond them a
slice yields its matches in storage order (the oldest first), which bounds a
rare word's cost by its few matches. Reading every match of a common word
(each a heap page and a TOASTed vector) would cost seconds at a million
messages; a fifth slice (to 256,000) cost a range bitmap worth 15 ms.

A selective filter (dbsearch.filtered_ids: up to FEW documents) is applied
first instead: through the slices, a common word's every match in the rest of
the archive would be read to find the few that pass. The filter's ids, newest
first, are then tested for the words in runs (dbsearch.newest_matches), each
run one array the planner ANDs with the word's GIN bitmap or tests row by row,
by the word's statistics; the runs stop once COUNT_CAP + 1 matched. A word in
almost every message is so tested on about COUNT_CAP rows, not on all of a
filter's thousands (each a vector read: the has-attachment filter with the
commonest word cost 0.4-0.6 s at a million), and a rare word costs a small
first run and then one AND of the rest. The candidates are the newest
COUNT_CAP + 1 matches among the filter's, whatever the runs.
"""

from __future__ import annotations

from django.db import connection, transaction

from search import querysyntax
from search.backend import COUNT_CAP, MARK_END, MARK_START, Query
from search.dbsearch import (
    DatabaseIndex,
    browse,
    filter_sql,
    filtered_ids,
    newest_matches,
    page_of_candidates,
)

HEADLINE = (f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
            "MaxFragments=1, FragmentDelimiter=' … '")
# Newest-first slices of the id space, in multiples of COUNT_CAP. Within a slice
# matches come in storage order, so only the slice where the cap is reached is
# taken partly (and not necessarily its newest part).
WINDOWS = (1, 4, 16, 64)
# For the search's own transaction only. The planner prices `@@` as one cheap
# operator, not as the detoasting of a vector, so with a LIMIT it may prefer
# walking a table or the primary key and testing every row; JIT compiles the
# large-looking plan for 50-200 ms; parallel workers would make the capped
# candidate set (and so the pages) differ from one query to the next.
# Among a filter's few ids the planner's own choice is kept (see FEW).
SETTLED = ("SELECT set_config('jit', 'off', true), "
           "set_config('max_parallel_workers_per_gather', '0', true)")
PLANNER = (f"{SETTLED}, set_config('enable_seqscan', 'off', true), "
           "set_config('enable_indexscan', 'off', true)")
FEW = 20_000


class PostgresFtsBackend(DatabaseIndex):
    """``few`` and ``first_run`` choose the plan only (tests compare the plans' answers)."""

    name = "postgresql-tsvector"

    def __init__(self, few: int = FEW, first_run: int | None = None) -> None:
        self.few, self.first_run = few, first_run

    def search(self, query: Query) -> tuple[int, list[tuple[int, str]]]:
        terms = querysyntax.parse(query.text)
        if not querysyntax.positive(terms):
            return browse(query)
        tsquery, tsparams = querysyntax.to_tsquery(terms)
        where, params = filter_sql(query)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT MAX(message_id) FROM search_document")
            newest = cursor.fetchone()[0]
            if newest is None:
                return 0, []
            few = filtered_ids(cursor, query, self.few)
            if few is not None:
                cursor.execute(SETTLED)

                def matching(ids: list[int]) -> list[int]:
                    cursor.execute("SELECT d.message_id FROM search_document d "
                                   "WHERE d.message_id = ANY(%s::bigint[]) "
                                   f"AND d.vector @@ ({tsquery})", [ids, *tsparams])
                    return [pk for pk, in cursor.fetchall()]

                candidates = ("SELECT d.message_id, d.date, d.vector FROM search_document d "
                              "WHERE d.message_id = ANY(%s::bigint[])")
                cparams = [newest_matches(few, matching, first=self.first_run)]
            else:
                cursor.execute(PLANNER)
                candidates, cparams = _candidates(tsquery, tsparams, where, params, newest)
            total, ids = page_of_candidates(
                cursor, candidates, cparams, f"ts_rank_cd(vector, ({tsquery})) DESC", tsparams,
                query)
            if not ids:
                return total, []
            cursor.execute(
                f"SELECT d.message_id, ts_headline('english', translate(d.body, '<>', '  '), "
                f"({tsquery}), %s) FROM search_document d "
                f"WHERE d.message_id IN ({', '.join(['%s'] * len(ids))})",
                tsparams + [HEADLINE] + ids)
            snippets = dict(cursor.fetchall())
        return total, [(pk, snippets.get(pk) or "") for pk in ids]


def _candidates(tsquery: str, tsparams: list, where: str, params: list,
                newest: int) -> tuple[str, list]:
    """At most COUNT_CAP + 1 matches, newest id slices first (message_id, date, vector)."""
    slices, upper = [], None
    for size in WINDOWS:
        lower = newest - size * COUNT_CAP
        if lower <= 0:
            break
        slices.append(f"d.message_id > {int(lower)}"
                      + (f" AND d.message_id <= {int(upper)}" if upper is not None else ""))
        upper = lower
    slices.append("TRUE" if upper is None else f"d.message_id <= {int(upper)}")
    branch = ("(SELECT d.message_id, d.date, d.vector FROM search_document d "
              f"WHERE d.vector @@ ({tsquery}) AND {where} AND {{slice}})")
    sql = " UNION ALL ".join(branch.format(slice=s) for s in slices) + " LIMIT %s"
    return sql, (tsparams + params) * len(slices) + [COUNT_CAP + 1]
