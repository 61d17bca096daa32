"""A common word costs a bounded search: counted to COUNT_CAP, then "more than".

Two groups hold 1,050 messages each with the word "common": "busy" (public)
and "vault" (archive for members only). The cap must never let the private
group's matches in: an outsider's count and pages are the public group's alone,
exact when few. On every backend (database full-text and OpenSearch).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

import search
from groups.models import Group, Membership, Message, Topic
from search import schema
from search.backend import COUNT_CAP

MANY = COUNT_CAP + 50


def _archive(group: Group, count: int, words: str, first_subject: str = "") -> list[Message]:
    """``count`` messages in topics of 50, in bulk (numbered and dated in order)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    topics = Topic.objects.bulk_create(
        Topic(group=group, subject=f"{group.name} {i}", normalized_subject=f"{group.name} {i}")
        for i in range(-(-count // 50)))
    messages = Message.objects.bulk_create(
        Message(group=group, topic=topics[i // 50], number=i + 1,
                message_id=f"<{group.name}.{i}@example.org>", sender_email="sam@example.org",
                subject=(first_subject if i == count - 1 and first_subject else f"Note {i}"),
                date=start + timedelta(minutes=i), body_text=f"{words} number {i}")
        for i in range(count))
    search.index_many(Message.objects.filter(group=group).select_related("group", "topic")
                      .prefetch_related("topic__hashtags"))
    return messages


@pytest.fixture
def crowded(db, backend):
    busy = Group.objects.create(name="busy")
    vault = Group.objects.create(name="vault", privacy=Group.Privacy.PRIVATE_ARCHIVE)
    quiet = Group.objects.create(name="quiet")
    _archive(vault, MANY, "common secretword")
    busy_messages = _archive(busy, MANY, "common chatter", first_subject="common ground")
    _archive(quiet, 3, "common secretword")  # public: 3 matches for outsiders
    return {"busy": busy_messages, "vault": vault}


def test_a_common_word_is_counted_to_the_cap_and_paged_without_repeats(crowded):
    results = search.query(AnonymousUser(), "common chatter")
    assert results.capped and results.total == COUNT_CAP + 1
    assert results.shown_total == COUNT_CAP and results.pages == COUNT_CAP // 20
    # The newest message, with the word in its subject, ranks first.
    assert results.hits[0].subject == "common ground"
    second = search.query(AnonymousUser(), "common chatter", page=2)
    assert len(results.hits) == len(second.hits) == 20
    assert not {h.message_id for h in results.hits} & {h.message_id for h in second.hits}
    assert {h.group for h in results.hits + second.hits} == {"busy"}


def test_private_matches_never_fill_an_outsiders_cap(crowded):
    outsider = search.query(AnonymousUser(), "secretword")
    assert outsider.total == 3 and not outsider.capped  # exact: only "quiet" is readable
    assert {h.group for h in outsider.hits} == {"quiet"}
    assert search.query(AnonymousUser(), "secretword", groups=["vault"]).total == 0


def test_a_member_sees_the_private_matches_capped(crowded, django_user_model):
    sam = django_user_model.objects.create_user("sam", "sam@example.org")
    Membership.objects.create(group=crowded["vault"], user=sam, email="sam@example.org")
    results = search.query(sam, "secretword")
    assert results.capped and {h.group for h in results.hits} <= {"vault", "quiet"}


def test_the_search_page_says_more_than_the_cap(crowded, client):
    page = client.get(reverse("search"), {"q": "common"}).content.decode()
    assert f"More than {COUNT_CAP} messages found" in page
    assert f"page 1 of {COUNT_CAP // 20}" in page


def test_a_whole_reindex_rebuilds_the_engine_index_once(transactional_db):
    """As the command runs in production: outside a transaction (TRUNCATE, GIN built after)."""
    from django.core.management import call_command
    from django.db import connection

    _archive(Group.objects.create(name="busy"), 30, "common chatter")
    call_command("reindex", "--no-progress", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert search.query(AnonymousUser(), "chatter").total == 30
    assert search.query(AnonymousUser(), "", author="XAMPLE.or").total == 30  # trigrams
    assert search.query(AnonymousUser(), "chatter", author="sam").total == 30
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                           [schema.PG_GIN_INDEX])
            assert "gin (vector)" in cursor.fetchone()[0]
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                           [schema.PG_TRIGRAM_INDEX])
            assert "gin_trgm_ops" in cursor.fetchone()[0]
