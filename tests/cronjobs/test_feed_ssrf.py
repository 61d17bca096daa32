"""Feeds are fetched from public addresses only, checked at connect time (#22 item 7).

A real HTTP server on loopback stands for an internal service; the crawler
must never reach it unless FEED_ALLOW_PRIVATE is set. A host name that a
real (local dnslib) DNS server resolves to loopback is refused the same way,
so the check is made on the resolved address, not on the URL's text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpcore
import pytest
from dnslib import AAAA, A

from cronjobs import publichttp
from cronjobs.config import FeedSettings
from cronjobs.rsscrawler import crawl
from groups.models import Feed
from platformcore.dnsresolver import parse_nameserver
from tests.conftest import CORPORA
from tests.dnszone import ZoneResolver, nameserver, start_dns_server

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GOOD = (CORPORA / "feeds/good/rss_item_title.xml").read_bytes()


def _feed(group, url: str) -> Feed:
    return Feed.objects.create(group=group, url=url, poster_email="alice@example.org",
                               next_check_at=NOW - timedelta(minutes=1))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254",
                                     "100.64.0.1", "::1", "fe80::1", "fc00::1",
                                     "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1"])
def test_non_public_addresses_are_not_public(address):
    assert not publichttp.is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_are(address):
    assert publichttp.is_public(address)


def test_a_feed_on_loopback_is_refused_and_never_reached(demo_group, feed_server):
    url = feed_server.serve("/internal", GOOD)
    feed = _feed(demo_group, url)
    [result] = crawl(NOW, FeedSettings())  # the default: public addresses only
    assert result.status == "failed" and "not a public address" in result.error
    assert feed_server.requests == []  # no connection was made
    feed.refresh_from_db()
    assert "127.0.0.1" in feed.last_error and "FEED_ALLOW_PRIVATE" in feed.last_error


def test_a_name_resolving_to_loopback_is_refused_after_dns(demo_group, feed_server):
    zone = ZoneResolver({"feeds.rebind.test": [A("127.0.0.1"), AAAA("::1")]})
    dns = start_dns_server(zone)
    try:
        url = f"http://feeds.rebind.test:{feed_server.port}/internal"
        feed_server.serve("/internal", GOOD)
        _feed(demo_group, url)
        cfg = FeedSettings(nameserver=parse_nameserver("FEED_NAMESERVER", nameserver(dns)))
        [result] = crawl(NOW, cfg)
    finally:
        dns.stop()
    assert "feeds.rebind.test" in zone.questions  # the name was resolved, then refused
    assert result.status == "failed" and "127.0.0.1" in result.error
    assert feed_server.requests == []


def test_the_operator_may_allow_private_addresses(demo_group, feed_server):
    url = feed_server.serve("/internal", GOOD)
    _feed(demo_group, url)
    [result] = crawl(NOW, FeedSettings(allow_private=True))
    assert result.status == "ok" and result.posted


def test_the_backend_connects_to_the_address_it_checked(monkeypatch):
    """A resolver that answers differently each time (rebinding) can't slip past:
    the socket is opened to the very address that was checked, never to the name."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    backend = publichttp.PublicOnlyBackend(lambda host, port: next(answers))
    seen: list[str] = []

    def no_network(self, host, port, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(host)  # httpcore's socket connect: the machine has no internet
        raise httpcore.ConnectError("not really connecting")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", no_network)
    with pytest.raises(httpcore.ConnectError, match="not really"):
        backend.connect_tcp("rebind.example", 80, timeout=1)
    with pytest.raises(publichttp.NotPublic):
        backend.connect_tcp("rebind.example", 80, timeout=1)
    assert seen == ["93.184.216.34"]


def test_a_failing_feed_shows_its_status_not_the_servers_words(demo_group, feed_server):
    from django.test import Client
    from django.urls import reverse

    from groups.models import User

    url = feed_server.serve("/broken", b"INTERNAL-SECRET db_password=hunter2", status=500)
    _feed(demo_group, url)
    [result] = crawl(NOW, FeedSettings(allow_private=True))
    assert result.error == "the server answered HTTP 500"
    alice = User.objects.create_user("alice", "alice@example.org", "pw-alice-123456",
                                     email_confirmed=True)
    owner = Client()
    owner.force_login(alice)
    page = owner.get(reverse("mod_feeds", args=["demo"])).content.decode()
    assert "HTTP 500" in page and "INTERNAL-SECRET" not in page and "hunter2" not in page
