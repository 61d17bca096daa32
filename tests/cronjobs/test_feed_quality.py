"""Feeds read from the shared corpus as a blog would serve them (#15 item 6): HTML titles become
text subjects; ill-formed feeds whose entries were salvaged say so on the owners' page; feeds
that misstate their charset are decoded right where the charset can be told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from cronjobs.rsscrawler import crawl
from groups.models import Feed, FeedEntry, Message, User
from tests.cronjobs.test_rsscrawler import CFG, FEEDS, NOW, add_feed, expected

# The titles these feeds really hold (the corpus's expected.jsonl records feedparser
# without a charset detector: mojibake).
DECODED = {
    "broken/chardet_koi8r.xml": "Как пережить новогоднюю ночь",
    "broken/chardet_gb2312.xml": "不归移民漫画系列：专业工作",
    "broken/chardet_shiftjis.xml": "DrecomRSSに記事投稿が反映されない…",
}


def _subjects(feed: Feed) -> set[str]:
    numbers = FeedEntry.objects.filter(feed=feed).values_list("message_number", flat=True)
    return set(Message.objects.filter(number__in=numbers).values_list("subject", flat=True))


@pytest.mark.parametrize("path, subject", [
    ("good/atom10_entry_title_inline_markup.xml", "Example Atom"),  # type="xhtml"
    ("good/atom_entry_title_escaped_markup.xml", "Example Atom"),  # mode="escaped"
    ("good/atom10_qna.xml", "Q&A session"),  # type="html" with an entity
    ("good/base_entry_title_xml_base.xml", "Example test"),
])
def test_html_titles_become_text_subjects(demo_group, feed_server, path, subject):
    feed = add_feed(demo_group, feed_server.serve("/f.xml", (FEEDS / path).read_bytes()))
    [result] = crawl(NOW, CFG)
    assert result.status == "ok" and result.warning == ""
    assert _subjects(feed) == {subject}


@pytest.mark.parametrize("path", sorted(DECODED))
def test_a_misdeclared_charset_is_decoded_right_and_the_owner_told(demo_group, feed_server,
                                                                    path):
    feed = add_feed(demo_group, feed_server.serve("/f.xml", (FEEDS / path).read_bytes()))
    [result] = crawl(NOW, CFG)
    assert result.status == "ok" and len(result.posted) == 1
    assert _subjects(feed) == {DECODED[path]}
    feed.refresh_from_db()
    assert "misstates its character set" in feed.last_warning


def test_salvaged_feeds_show_their_problem_on_the_owners_page(demo_group, feed_server):
    salvaged = [c for c in expected("broken") if c["entries"]]
    assert len(salvaged) >= 5
    feeds = [add_feed(demo_group, feed_server.serve("/" + c["file"],
                                                    (FEEDS / c["file"]).read_bytes()))
             for c in salvaged]
    clean = add_feed(demo_group, feed_server.serve(
        "/clean.xml", (FEEDS / "good/rss_item_title.xml").read_bytes()))
    crawl(NOW, CFG)
    for feed in feeds:
        feed.refresh_from_db()
        assert feed.consecutive_failures == 0 and feed.last_warning, feed.url
    clean.refresh_from_db()
    assert clean.last_warning == ""

    User.objects.create_user("alice@example.org", "alice@example.org", "pw")
    owner = Client()
    owner.force_login(User.objects.get(username="alice@example.org"))
    page = owner.get(reverse("mod_feeds", args=["demo"]), {"per_page": 100}).content.decode()
    assert page.count("Imported with problems") == len(feeds)
    assert "not well-formed XML" in page and "misstates its character set" in page
    assert page.count('badge ok">OK') == 1  # only the clean feed

    # The publisher fixes the feed: the warning goes at the next read.
    feed_server.serve("/" + salvaged[0]["file"], (FEEDS / "good/rss_item_title.xml")
                      .read_bytes())
    crawl(NOW + timedelta(hours=1), CFG, feed_id=feeds[0].id)
    feeds[0].refresh_from_db()
    assert feeds[0].last_warning == ""
