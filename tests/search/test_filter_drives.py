"""A word with a filter gives the same answer whichever side drives, on both databases.

A search with a selective filter may be served two ways: the filter's own ids
first, the words then tested on those rows only (in runs, newest first, that
stop once the cap is reached: dbsearch.newest_matches), or the words' index
first, the filter tested on each match. Which is cheaper depends on how
common the word is and how much the filter keeps, so the backends choose;
these pin that the choice never changes what is found, counted or in which
order, for a very common, a middling and a rare word against each selective
filter, capped and not, and that private groups stay out on every plan.

The archive: a public group "busy" of COUNT_CAP + 300 messages and a
members-only group "vault" of 200, every message with "common", one in three
with "often", one in 150 with "seldom"; most of busy's messages carry a file
(so the has-attachment filter alone passes the cap), one topic in four of
each group is tagged #announce, one message in 25 is Pat's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

import search
from groups.models import Attachment, Group, Hashtag, Membership, Message, Topic
from search.backend import COUNT_CAP
from search.dbsearch import newest_matches

ON_THE_DATABASE = pytest.mark.parametrize("backend", ["database"], indirect=True)

BUSY = COUNT_CAP + 300
START = datetime(2024, 1, 1, tzinfo=UTC)


def _fill(group: Group, count: int, tag: Hashtag) -> None:
    topics = Topic.objects.bulk_create(
        Topic(group=group, subject=f"{group.name} {i}", normalized_subject=f"{group.name} {i}")
        for i in range(-(-count // 10)))
    for topic in topics[::4]:
        topic.hashtags.add(tag)
    messages = Message.objects.bulk_create(
        Message(group=group, topic=topics[i // 10], number=i + 1,
                message_id=f"<{group.name}.{i}@example.org>",
                sender_email="pat@example.org" if i % 25 == 3 else f"u{i % 40}@example.org",
                sender_name="Pat Poster" if i % 25 == 3 else "",
                subject=f"Note {i}" + (" common" if i % 7 == 0 else ""),
                # The dates run against the ids now and then: order is by date, ties by id.
                date=START + timedelta(minutes=i - (i % 13) * 5),
                body_text=" ".join(["common"] * (1 + i % 4) + ["filler"] * (i % 9)
                                   + (["often"] if i % 3 == 0 else [])
                                   + (["seldom"] if i % 150 == 11 else [])))
        for i in range(count))
    Attachment.objects.bulk_create(
        Attachment(message=m, filename="a.pdf", content_type="application/pdf", size=1,
                   path=f"{group.name}/{m.number}")
        for m in messages if m.number % 10 != 0)
    search.index_many(Message.objects.filter(group=group))


@pytest.fixture
def mixed(db, backend, django_user_model):
    busy = Group.objects.create(name="busy")
    vault = Group.objects.create(name="vault", privacy=Group.Privacy.PRIVATE_ARCHIVE)
    _fill(busy, BUSY, Hashtag.objects.create(group=busy, name="announce"))
    _fill(vault, 200, Hashtag.objects.create(group=vault, name="announce"))
    member = django_user_model.objects.create_user("vic", "vic@example.org")
    Membership.objects.create(group=vault, user=member, email="vic@example.org")
    return {"outsider": AnonymousUser(), "member": member}


WORDS = ("common", "often", "seldom")
FILTERS = ({"has_attachment": True}, {"hashtag": "announce"}, {"author": "Pat Poster"},
           {"author": "pat@example.org"}, {"groups": ["vault"]},
           {"date_from": START + timedelta(hours=3), "date_to": START + timedelta(hours=9)})


def _answer(user, word: str, filters: dict) -> tuple[int, list[list[int]]]:
    """The count and the message ids of the first, second and last pages, in order."""
    first = search.query(user, word, **filters)
    pages = [[h.message_id for h in first.hits]]
    for page in sorted({2, first.pages} - {1}):
        pages.append([h.message_id for h in search.query(user, word, page=page,
                                                           **filters).hits])
    return first.total, pages


def _plans():
    """The plans a backend may choose between, each forced on its own."""
    if connection.vendor == "postgresql":
        from search.pg_fts import PostgresFtsBackend

        return {"filter first, runs": PostgresFtsBackend(),
                "filter first, one run": PostgresFtsBackend(first_run=10 ** 9),
                "filter first, runs of one": PostgresFtsBackend(first_run=1),
                "words first": PostgresFtsBackend(few=0)}
    from search.sqlite_fts import SqliteFtsBackend

    return {"the set tested on each match": SqliteFtsBackend(probe=0, walk=10 ** 6),
            "the filter tested on each match": SqliteFtsBackend(probe=0, walk=0)}


def _capped(total: int) -> bool:
    return total > COUNT_CAP


@ON_THE_DATABASE
def test_every_plan_finds_the_same_in_the_same_order(mixed):
    answers: dict[tuple, dict[str, tuple]] = {}
    for name, plan in _plans().items():
        with search.use_backend(plan):
            for who, user in mixed.items():
                for word in WORDS:
                    for i, filters in enumerate(FILTERS):
                        answers.setdefault((who, word, i), {})[name] = _answer(user, word,
                                                                               filters)
    capped = 0
    for key, by_plan in answers.items():
        reference = by_plan["filter first, runs"] if "filter first, runs" in by_plan \
            else next(iter(by_plan.values()))
        capped += _capped(reference[0])
        for name, answer in by_plan.items():
            if name == "words first" and _capped(reference[0]):
                continue  # its newest-id slices take the last slice's matches in storage order
            assert answer == reference, (key, name)
    assert capped, "no shape passed the cap: the runs were never cut short"


@ON_THE_DATABASE
def test_private_groups_stay_out_on_every_plan(mixed):
    vault = set(Message.objects.filter(group__name="vault").values_list("pk", flat=True))
    for plan in _plans().values():
        with search.use_backend(plan):
            for word in WORDS:
                for filters in FILTERS:
                    _, pages = _answer(mixed["outsider"], word, filters)
                    assert not vault & {pk for page in pages for pk in page}, (word, filters)
            total, pages = _answer(mixed["member"], "seldom", {"groups": ["vault"]})
            assert total == 2 and set(pages[0]) <= vault


@ON_THE_DATABASE
def test_a_capped_filter_first_search_keeps_the_newest_matches(mixed):
    """The candidates are the newest COUNT_CAP + 1 matches among the filter's, as before."""
    with_files = Message.objects.filter(group__name="busy", attachments__isnull=False,
                                        body_text__contains="common").order_by("-pk")
    newest = set(with_files.values_list("pk", flat=True)[:COUNT_CAP + 1])
    found = search.query(mixed["outsider"], "common", has_attachment=True)
    assert found.total == COUNT_CAP + 1
    shown = set()
    for page in range(1, COUNT_CAP // 100 + 1):
        shown |= {h.message_id for h in search.query(mixed["outsider"], "common", per_page=100,
                                                     has_attachment=True, page=page).hits}
    assert len(shown) == COUNT_CAP and shown <= newest


@pytest.mark.parametrize("share", [1, 2, 3, 50, 997, 10 ** 6])
@pytest.mark.parametrize("first", [None, 1, 7, 5000])
def test_newest_matches_is_the_newest_whatever_the_runs(share, first):
    ids = list(range(5000, 0, -1))
    kept = [pk for pk in ids if pk % share == 0]
    calls = []

    def matching(run: list[int]) -> list[int]:
        calls.append(len(run))
        return [pk for pk in reversed(run) if pk % share == 0]  # any order back

    for want in (1, 20, 1001):
        calls.clear()
        assert newest_matches(ids, matching, want=want, first=first) == kept[:want]
        assert sum(calls) <= len(ids)  # no id tested twice


@ON_THE_DATABASE
def test_the_migration_flags_the_files_of_an_archive_indexed_before_it(archive):
    """0004_document_has_attachment on an archive indexed without the flag: flagged, FTS5 left whole."""
    import importlib
    from types import SimpleNamespace

    from search.models import Document

    migration = importlib.import_module("search.migrations.0004_document_has_attachment")
    picnic = Message.objects.get(subject="Picnic plans")
    Attachment.objects.create(message=picnic, filename="map.pdf", size=10, path="x/map.pdf",
                              content_type="application/pdf")
    assert not Document.objects.get(pk=picnic.pk).has_attachment  # as indexed before
    migration.backfill(None, SimpleNamespace(connection=connection))  # what migrate runs
    assert list(Document.objects.filter(has_attachment=True)) == [Document.objects.get(
        pk=picnic.pk)]
    admin = archive["admin"]
    assert [h.subject for h in search.query(admin, "", has_attachment=True).hits] == [
        "Picnic plans"]
    assert search.query(admin, "sandwiches", has_attachment=True).total == 1
    assert search.query(admin, "release").total == 5  # the words' index untouched
    assert search.query(admin, "", author="Dora").total == 1  # and the author's


@ON_THE_DATABASE
def test_every_indexing_path_sets_the_flag(archive):
    """The hook (index_many), a reindex's INSERT ... SELECT, and the hourly catch-up."""
    from django.utils import timezone

    from search.catchup import index_missing
    from search.dbsearch import DatabaseIndex
    from search.models import Document

    picnic = Message.objects.get(subject="Picnic plans")
    Attachment.objects.create(message=picnic, filename="map.pdf", size=10, path="x/map.pdf",
                              content_type="application/pdf")
    flagged = lambda: set(Document.objects.filter(has_attachment=True)  # noqa: E731
                          .values_list("pk", flat=True))
    search.index(picnic)
    assert flagged() == {picnic.pk}
    ids = list(Message.objects.values_list("pk", flat=True))
    Document.objects.all().delete()
    assert DatabaseIndex().rebuild_range(min(ids), max(ids)) == len(ids)
    assert flagged() == {picnic.pk}
    search.remove(picnic)  # its task was lost
    assert index_missing(timezone.now()) == 1
    assert flagged() == {picnic.pk}


@ON_THE_DATABASE
def test_filters_alone_list_the_same_whether_their_ids_or_the_date_index_drive(mixed,
                                                                               monkeypatch):
    """Without words: a set filter's ids sorted by date, or the date index walked, agree.

    The ids path counts the ids and reads only the page's bodies
    (dbsearch._browse_ids); the other reads the documents in date order.
    """
    from search import dbsearch

    def listing(user, filters: dict) -> tuple[int, list[list[tuple[int, str]]]]:
        first = search.query(user, "", **filters)
        pages = [[(h.message_id, h.snippet_html) for h in first.hits]]
        for page in sorted({2, first.pages} - {1}):
            pages.append([(h.message_id, h.snippet_html)
                          for h in search.query(user, "", page=page, **filters).hits])
        return first.total, pages

    set_filters = [f for f in FILTERS if {"has_attachment", "hashtag", "author"} & set(f)]
    by_ids = {(who, i): listing(user, f) for who, user in mixed.items()
              for i, f in enumerate(set_filters)}
    monkeypatch.setattr(dbsearch, "BROWSE_FIRST", 0)  # never the ids: the date index
    by_dates = {(who, i): listing(user, f) for who, user in mixed.items()
                for i, f in enumerate(set_filters)}
    assert by_ids == by_dates
    assert any(total > COUNT_CAP for total, _ in by_ids.values())
    assert all(snippet for _, pages in by_ids.values() for page in pages
               for _, snippet in page)
