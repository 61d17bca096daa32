"""The author filter and a word with a filter that leaves few messages, on both databases.

The author filter goes through a trigram index and a selective filter is
applied before the words (search.dbsearch.filtered_ids); these pin that the
answers are the ones the plain scan gave: any part of a name or an address,
whatever the case, and exactly the matches that pass every filter. The
database's own engines only (SQLite here, PostgreSQL in the PostgreSQL pass):
OpenSearch matches an author by words, not by any part.
"""

from __future__ import annotations

from datetime import date

import pytest

import search

pytestmark = pytest.mark.parametrize("backend", ["database"], indirect=True)


def _subjects(results) -> list[str]:
    return sorted(h.subject for h in results.hits)


BOB = ["Release notes for version 2 #announce"]


def test_author_by_display_name_any_case_and_any_part(archive):
    admin = archive["admin"]
    for author in ("Bob Member", "bob member", "BOB", "ob Mem", "member"):
        found = search.query(admin, "", author=author)
        assert _subjects(found) == BOB, author
        assert found.total == 1
    # Two letters are below a trigram: still found (by scanning).
    assert _subjects(search.query(admin, "", author="Bo")) == BOB


def test_author_by_address_whole_or_in_part(archive):
    admin = archive["admin"]
    assert _subjects(search.query(admin, "", author="BOB@example.org")) == BOB
    assert _subjects(search.query(admin, "", author="bob@exam")) == []  # "@": the address
    assert search.query(admin, "", author="example.org").total == 5  # part of "<address>"
    assert _subjects(search.query(admin, "release", author="alice@example.org")) == [
        "Re: Release notes for version 2 #announce"]


def test_author_text_is_never_a_pattern(archive):
    admin = archive["admin"]
    for author in ("%", "_ob", 'Bob" OR "Alice', "b*b", "Bob\\"):
        assert search.query(admin, "", author=author).total == 0, author


def test_author_filter_keeps_to_readable_groups(archive):
    # Sam posts only to the members-only group: Bob may not read it.
    assert search.query(archive["bob"], "", author="Sam Secret").total == 0
    assert search.query(archive["sam"], "", author="Sam Secret").total == 1


def test_a_word_with_each_selective_filter_finds_exactly_what_passes(archive):
    admin = archive["admin"]
    assert _subjects(search.query(admin, "release", author="Bob")) == BOB
    assert _subjects(search.query(admin, "picnic", author="Bob")) == []
    assert _subjects(search.query(admin, "release", groups=["secret"])) == [
        "Quarterly budget release"]
    assert _subjects(search.query(admin, "release", hashtag="announce")) == [
        "Re: Release notes for version 2 #announce", *BOB]
    assert _subjects(search.query(admin, "release", date_from=date(2024, 3, 2),
                                  date_to=date(2024, 3, 3))) == [
        "Merger release", "Quarterly budget release"]
    # Every filter at once still ANDs.
    assert _subjects(search.query(admin, "release", groups=["demo"], hashtag="announce",
                                  author="alice", date_from=date(2024, 3, 4))) == [
        "Re: Release notes for version 2 #announce"]
    assert search.query(admin, "release", groups=["demo"], author="sam").total == 0


def test_has_attachment_filter(archive):
    from groups.models import Attachment, Message

    admin = archive["admin"]
    assert search.query(admin, "release", has_attachment=True).total == 0
    picnic = Message.objects.get(subject="Picnic plans")
    Attachment.objects.create(message=picnic, filename="map.pdf", content_type="application/pdf",
                              size=10, path="x/map.pdf")
    search.index(picnic)  # a file comes with its message, before the message is indexed
    assert _subjects(search.query(admin, "release", has_attachment=True)) == ["Picnic plans"]
    assert _subjects(search.query(admin, "", has_attachment=True)) == ["Picnic plans"]
    assert search.query(admin, "budget", has_attachment=True).total == 0
