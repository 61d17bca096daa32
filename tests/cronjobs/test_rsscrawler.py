"""rsscrawler against a real local HTTP server serving the real feeds of tests/corpora/feeds."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import UTC, datetime, timedelta

from cronjobs.config import FeedSettings
from cronjobs.rsscrawler import crawl
from groups.models import Feed, FeedEntry, Message
from tests.conftest import CORPORA
from tests.cronjobs.conftest import jobs

FEEDS = CORPORA / "feeds"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CFG = FeedSettings(allow_private=True)  # the feed server is on loopback


def expected(folder: str) -> list[dict]:
    rows = [json.loads(line) for line in (FEEDS / "expected.jsonl").read_text().splitlines()
            if line.strip()]
    return [r for r in rows if r["file"].startswith(folder + "/")]


def add_feed(group, url: str, **extra) -> Feed:
    return Feed.objects.create(group=group, url=url, poster_email="alice@example.org",
                               next_check_at=NOW - timedelta(minutes=1), **extra)


def test_every_good_feed_posts_its_entries_once(demo_group, feed_server):
    cases = expected("good")
    feeds = {}
    for case in cases:
        url = feed_server.serve("/" + case["file"], (FEEDS / case["file"]).read_bytes())
        feeds[case["file"]] = add_feed(demo_group, url)
    results = crawl(NOW, CFG)
    assert {r.status for r in results} == {"ok"}, [r.error for r in results if r.error]
    for case in cases:
        feed = feeds[case["file"]]
        numbers = list(FeedEntry.objects.filter(feed=feed).values_list("message_number",
                                                                         flat=True))
        assert len(numbers) == case["entries"], case["file"]
        messages = list(Message.objects.filter(group=demo_group, number__in=numbers))
        assert len(messages) == case["entries"] and all(m.source == "feed" for m in messages)
        assert all(m.sender_email == "alice@example.org" for m in messages)
        subjects = {m.subject for m in messages}
        for title in case["titles"]:
            if title is not None and title.strip():
                # the corpus's HTML/XHTML titles ("Example <b>Atom</b>", "Q&amp;A") are
                # subjects as text: no tags, no entities (#15 item 6)
                want = " ".join(html.unescape(re.sub(r"<[^>]+>", "", title)).split())
                assert want in subjects, (case["file"], title, subjects)
                assert not any(tag in s for s in subjects for tag in ("<b>", "<div>", "&amp;"))
        assert all(m.subject.strip() for m in messages)  # a fallback for untitled entries
        bodies = "\n".join(m.body_text for m in messages)
        assert bodies.count("Enclosure: ") == case["enclosures"], case["file"]
    # a link to the original rides along
    assert any("Read the original: http" in m.body_text
               for m in Message.objects.filter(source="feed"))
    # each post went out like any post (fan-out jobs to the members)
    assert len(jobs("post")) == Message.objects.filter(source="feed").count()

    # the next poll sends the validators, gets 304s, and posts nothing
    before = Message.objects.count()
    later = NOW + timedelta(minutes=31)
    results = crawl(later, CFG)
    assert len(results) == len(cases) and {r.status for r in results} == {"not_modified"}
    assert Message.objects.count() == before
    last = feed_server.hits("/" + cases[0]["file"])[-1]
    assert last["if-none-match"].startswith('"')
    assert last["if-modified-since"] == "Mon, 02 Nov 2026 08:00:00 GMT"


def test_only_new_entries_are_posted_when_the_feed_changes(demo_group, feed_server):
    two = (FEEDS / "good/psc_rss2.0simplechapter2items.xml").read_bytes()
    url = feed_server.serve("/weather.xml", two)
    feed = add_feed(demo_group, url, subject_prefix="[weather]")
    [result] = crawl(NOW, CFG)
    assert len(result.posted) == 2
    subjects = set(Message.objects.values_list("subject", flat=True))
    assert "[weather] Vorhersage Donnerstag, 06.09.2012" in subjects
    # the publisher adds an item at the top: a new ETag, one new post
    marker = b"<item>"
    newer = two.replace(marker, b"<item><title>Vorhersage Freitag</title>"
                                b"<guid>urn:weather:friday</guid></item>" + marker, 1)
    feed_server.serve("/weather.xml", newer)
    [result] = crawl(NOW + timedelta(minutes=30), CFG)
    assert len(result.posted) == 1
    assert Message.objects.get(number=result.posted[0]).subject == "[weather] Vorhersage Freitag"
    # polling by hand (--feed) before it is due: still nothing twice
    [result] = crawl(NOW + timedelta(minutes=31), CFG, feed_id=feed.id)
    assert result.status == "not_modified" and result.posted == []


def test_broken_feeds_import_what_they_can_or_fail_readably(demo_group, feed_server):
    good = feed_server.serve("/good.xml", (FEEDS / "good/rss_item_title.xml").read_bytes())
    good_feed = add_feed(demo_group, good)
    cases = expected("broken")
    feeds = {}
    for case in cases:
        url = feed_server.serve("/" + case["file"], (FEEDS / case["file"]).read_bytes())
        feeds[case["file"]] = add_feed(demo_group, url)
    results = {r.feed_id: r for r in crawl(NOW, CFG)}
    assert results[good_feed.id].status == "ok" and len(results[good_feed.id].posted) == 1
    for case in cases:
        result = results[feeds[case["file"]].id]
        if case["entries"]:
            assert result.status == "ok" and len(result.posted) == case["entries"], case
        else:
            assert result.status == "failed", case
            assert result.error.startswith("not a readable feed"), result.error
            feed = Feed.objects.get(pk=feeds[case["file"]].id)
            assert feed.consecutive_failures == 1 and feed.last_error == result.error


def test_a_failing_feed_backs_off_and_is_reported_once(demo_group, feed_server, caplog):
    url = feed_server.serve("/gone.xml", b"oops", status=500)
    feed = add_feed(demo_group, url)
    now = NOW
    waits = []
    with caplog.at_level(logging.WARNING, logger="cronjobs.rsscrawler"):
        for _ in range(4):
            [result] = crawl(now, CFG)
            assert result.status == "failed" and "HTTP 500" in result.error
            feed.refresh_from_db()
            waits.append(feed.next_check_at - now)
            assert crawl(feed.next_check_at - timedelta(seconds=1), CFG) == []  # not yet due
            now = feed.next_check_at
    assert waits == [timedelta(minutes=m) for m in (60, 120, 240, 480)]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "has failed 3 times in a row" in errors[0].getMessage()
    notices = [j for j in jobs("notice") if "feed" in j["meta"]["notice"]]
    assert [r["address"] for j in notices for r in j["recipients"]] == ["alice@example.org"]
    # it comes back: the record is cleared, the next failing spell is reported again
    feed_server.serve("/gone.xml", (FEEDS / "good/rss_item_title.xml").read_bytes())
    [result] = crawl(now, CFG)
    assert result.status == "ok" and len(result.posted) == 1
    feed.refresh_from_db()
    assert (feed.consecutive_failures, feed.last_error, feed.failure_reported_at) == (0, "", None)
    assert feed.next_check_at == now + timedelta(minutes=30)


def test_a_poster_the_group_refuses_is_a_failure_and_nothing_is_lost(demo_group, feed_server):
    url = feed_server.serve("/news.xml", (FEEDS / "good/rss_item_title.xml").read_bytes())
    feed = add_feed(demo_group, url)
    Feed.objects.filter(pk=feed.pk).update(poster_email="charlie@example.net")
    [result] = crawl(NOW, CFG)
    assert result.status == "failed" and "not a member of demo" in result.error
    assert not FeedEntry.objects.exists() and not Message.objects.exists()
    Feed.objects.filter(pk=feed.pk).update(poster_email="bob@example.org")
    [result] = crawl(NOW + timedelta(hours=2), CFG)
    assert result.status == "ok" and len(result.posted) == 1
