"""What a search finds, on the database's full-text search and on OpenSearch alike.

Words (stemmed, accents folded), phrases, exclusions, groups, hashtag,
author, date range, paging, and snippets that highlight without ever letting
the message's own markup through.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import search


def _subjects(results) -> list[str]:
    return sorted(h.subject for h in results.hits)


def test_words_are_stemmed_and_accents_folded(archive, backend):
    from django.db import connection

    bob = archive["bob"]
    # Stemming joins run/running/runs, not runner.
    assert _subjects(search.query(bob, "run")) == ["Picnic plans"]
    release = ["Release notes for version 2 #announce"]
    assert _subjects(search.query(bob, "café")) == release
    # PostgreSQL's 'english' configuration keeps accents (unaccent is an extension).
    folds = backend.name != "postgresql-tsvector" or connection.vendor != "postgresql"
    assert _subjects(search.query(bob, "cafe")) == (release if folds else [])
    assert search.query(bob, "sandwich").total == 1  # plural in the text


def test_all_words_must_match_and_phrases_keep_their_order(archive):
    bob = archive["bob"]
    assert search.query(bob, "release").total == 3
    assert _subjects(search.query(bob, "release sandwiches")) == ["Picnic plans"]
    assert _subjects(search.query(bob, '"release party"')) == ["Picnic plans"]
    assert search.query(bob, '"party release"').total == 0
    assert search.query(bob, "release -picnic").total == 2


def test_operators_and_punctuation_are_just_text(archive):
    bob = archive["bob"]
    for q in ('release OR "', "NEAR(release", "subject:release", "release AND", '"""', "*"):
        results = search.query(bob, q)  # never an engine syntax error
        assert results.total in (0, 3)


def test_filters_by_group_hashtag_author_and_dates(archive):
    admin = archive["admin"]
    assert search.query(admin, "release", groups=["demo"]).total == 3
    assert {h.group for h in search.query(admin, "release", groups=["secret"]).hits} == {
        "secret"}
    tagged = search.query(admin, "release", hashtag="#Announce")
    assert _subjects(tagged) == ["Re: Release notes for version 2 #announce",
                                 "Release notes for version 2 #announce"]
    assert _subjects(search.query(admin, "release", author="dora@example.org")) == [
        "Picnic plans"]
    assert _subjects(search.query(admin, "release", author="Alice")) == [
        "Re: Release notes for version 2 #announce"]
    march = search.query(admin, "release", date_from=date(2024, 3, 1), date_to=date(2024, 3, 2))
    assert _subjects(march) == ["Quarterly budget release",
                                "Release notes for version 2 #announce"]
    later = search.query(admin, "release",
                         date_from=datetime(2024, 3, 4, tzinfo=UTC))
    assert _subjects(later) == ["Picnic plans", "Re: Release notes for version 2 #announce"]
    # Filters alone (no words): the newest first.
    only_dora = search.query(admin, "", author="dora@example.org")
    assert only_dora.total == 1 and only_dora.hits[0].number == 3


def test_paging_keeps_the_total_and_never_repeats_a_hit(archive):
    admin = archive["admin"]
    pages = [search.query(admin, "release", page=p, per_page=2) for p in (1, 2, 3)]
    assert [r.total for r in pages] == [5, 5, 5]
    assert [len(r.hits) for r in pages] == [2, 2, 1]
    ids = [h.message_id for r in pages for h in r.hits]
    assert len(set(ids)) == 5 and pages[0].pages == 3


def test_hits_carry_the_archive_fields_and_a_safe_highlighted_snippet(archive):
    from groups.models import Message

    [hit] = search.query(archive["bob"], "migration").hits
    message = Message.objects.get(pk=hit.message_id)
    assert (hit.group, hit.number, hit.subject, hit.topic_id) == (
        "demo", message.number, message.subject, message.topic_id)
    assert hit.author == "Bob Member" and hit.date == message.date
    assert "<mark>migration</mark>" in hit.snippet_html
    assert "<script>" not in hit.snippet_html
    snippet = search.query(archive["bob"], "owned").hits[0].snippet_html
    assert "<script>" not in snippet and "alert(" in snippet  # shown, as text
    assert "<mark>owned</mark>" in snippet
