"""The reply tree built from stored headers (groups.web.threads), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from groups.web.threads import MAX_INDENT, Row, indent, thread

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def row(pk: int, irt: str = "", refs: str = "", minutes: int | None = None) -> Row:
    return Row(pk=pk, number=pk, date=T0 + timedelta(minutes=pk if minutes is None else minutes),
               message_id=f"<m{pk}@example.org>", in_reply_to=irt, references=refs)


def shape(rows) -> list[tuple[int, int]]:
    return [(p.pk, p.depth) for p in thread(rows)]


def test_replies_follow_their_parent_oldest_first():
    rows = [row(1), row(2, "<m1@example.org>"), row(3, "<m1@example.org>"),
            row(4, "<m2@example.org>")]
    assert shape(rows) == [(1, 0), (2, 1), (4, 2), (3, 1)]


def test_references_stand_in_for_a_missing_in_reply_to():
    rows = [row(1), row(2, "", "<m1@example.org>"),
            row(3, "<gone@example.org>", "<m1@example.org> <m2@example.org> <gone@example.org>")]
    assert shape(rows) == [(1, 0), (2, 1), (3, 2)]


def test_ids_compare_without_brackets_or_case():
    assert shape([row(1), row(2, "M1@Example.org")]) == [(1, 0), (2, 1)]


def test_headers_that_point_forwards_or_at_themselves_make_no_loop():
    rows = [row(1, "<m2@example.org>"), row(2, "<m1@example.org>"), row(3, "<m3@example.org>")]
    assert shape(rows) == [(1, 0), (2, 1), (3, 0)]


def test_same_date_keeps_number_order_and_deep_threads_are_drawn_capped():
    rows = [row(1, minutes=0), *[row(i, f"<m{i - 1}@example.org>", minutes=0)
                                 for i in range(2, 15)]]
    placed = thread(rows)
    assert [p.pk for p in placed] == list(range(1, 15))
    assert placed[-1].depth == 13 and indent(placed[-1].depth) == MAX_INDENT
