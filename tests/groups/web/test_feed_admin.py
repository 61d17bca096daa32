"""The owners' feeds page: who may see it, adding with validation, failure state, removal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import Feed, Group

pytestmark = pytest.mark.django_db
URL = reverse("mod_feeds", args=["hikers"])


def _add(client, **fields):
    data = {"url": "https://blog.example.org/feed.xml", "title": "Club blog",
            "poster_email": "bob@example.org", "subject_prefix": "[Blog]", **fields}
    return client.post(URL, data)


@pytest.mark.parametrize(("who", "status"), [("anon", 302), ("charlie", 404), ("bob", 404),
                                              ("mona", 404), ("alice", 200), ("root", 200)])
def test_only_owners_and_site_admins_reach_the_feeds_page(group, clients, who, status):
    assert clients[who].get(URL).status_code == status
    assert _add(clients[who]).status_code == (302 if status == 200 else status)
    assert Feed.objects.count() == (1 if status == 200 else 0)


def test_owner_adds_a_feed_posted_by_a_member(group, clients):
    response = _add(clients["alice"])
    assert response.status_code == 302
    feed = Feed.objects.get(group=group)
    assert (feed.url, feed.title, feed.poster_email, feed.subject_prefix, feed.active) == (
        "https://blog.example.org/feed.xml", "Club blog", "bob@example.org", "[Blog]", True)
    assert feed.next_check_at <= timezone.now()
    page = clients["alice"].get(URL).content.decode()
    assert "https://blog.example.org/feed.xml" in page and "Club blog" in page


@pytest.mark.parametrize(("fields", "field", "error"), [
    ({"url": "not a url at all"}, "url", "Enter a valid URL."),
    ({"url": "ftp://files.example.org/feed.xml"}, "url", "must start with http:// or https://"),
    ({"url": "javascript:alert(1)"}, "url", "Enter a valid URL."),
    ({"url": "http://127.0.0.1:8001/health"}, "url", "public addresses only"),
    ({"url": "http://[::1]/feed"}, "url", "public addresses only"),
    ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "public addresses only"),
    ({"url": "http://localhost:8002/health"}, "url", "public addresses only"),
    ({"poster_email": "charlie@example.org"}, "poster_email", "is not an active member"),
    ({"poster_email": "nobody@example.org"}, "poster_email", "is not an active member"),
    ({"poster_email": "nonsense"}, "poster_email", "Enter a valid email address."),
])
def test_bad_feeds_are_refused_with_a_clear_error(group, clients, fields, field, error):
    response = _add(clients["alice"], **fields)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert field in response.context["form"].errors
    assert not Feed.objects.exists()


def test_a_banned_member_cannot_be_the_poster(group, clients, people):
    group.memberships.filter(email="bob@example.org").update(status="banned")
    response = _add(clients["alice"])
    assert response.status_code == 400 and not Feed.objects.exists()


def test_the_same_feed_twice_is_refused(group, clients):
    assert _add(clients["alice"]).status_code == 302
    response = _add(clients["alice"], title="Again")
    assert response.status_code == 400
    assert "already has this feed" in response.content.decode()
    assert Feed.objects.count() == 1


def test_the_page_shows_why_a_feed_fails_and_when_it_stopped(group, clients):
    now = timezone.now()
    Feed.objects.create(group=group, url="https://ok.example.org/rss", poster_email="bob@example.org",
                        last_checked_at=now)
    Feed.objects.create(group=group, url="https://flaky.example.org/rss",
                        poster_email="bob@example.org", consecutive_failures=3,
                        last_error="HTTP 503 Service Unavailable", last_checked_at=now,
                        next_check_at=now + timedelta(hours=1))
    Feed.objects.create(group=group, url="https://gone.example.org/rss",
                        poster_email="bob@example.org", consecutive_failures=12, active=False,
                        last_error="HTTP 410 Gone")
    page = clients["alice"].get(URL).content.decode()
    assert "3 failed checks in a row: HTTP 503 Service Unavailable" in page
    assert "12 failed checks in a row: HTTP 410 Gone" in page
    assert page.count("badge ok") == 1 and page.count("badge warn") == 1
    assert page.count("badge danger") == 1 and ">Resume<" in page


def test_owner_removes_pauses_and_resumes_a_feed(group, clients):
    feed = Feed.objects.create(group=group, url="https://gone.example.org/rss",
                               poster_email="bob@example.org", consecutive_failures=12,
                               active=False, next_check_at=timezone.now() + timedelta(days=3))
    action = reverse("mod_feed", args=["hikers", feed.pk])
    assert clients["alice"].post(action, {"action": "resume"}).status_code == 302
    feed.refresh_from_db()
    assert feed.active and feed.consecutive_failures == 0
    assert feed.next_check_at <= timezone.now()
    clients["alice"].post(action, {"action": "pause"})
    feed.refresh_from_db()
    assert not feed.active
    clients["alice"].post(action, {"action": "remove"})
    assert not Feed.objects.filter(pk=feed.pk).exists()


def test_feeds_of_another_group_cannot_be_touched(group, clients, people):
    other = Group.objects.create(name="divers")
    feed = Feed.objects.create(group=other, url="https://x.example.org/rss",
                               poster_email="x@example.org")
    response = clients["alice"].post(reverse("mod_feed", args=["hikers", feed.pk]),
                                     {"action": "remove"})
    assert response.status_code == 404 and Feed.objects.filter(pk=feed.pk).exists()
    assert clients["bob"].post(reverse("mod_feed", args=["hikers", feed.pk]),
                               {"action": "remove"}).status_code == 404


def test_the_owners_dashboard_points_at_failing_feeds(group, clients):
    Feed.objects.create(group=group, url="https://flaky.example.org/rss",
                        poster_email="bob@example.org", consecutive_failures=2)
    url = reverse("mod_dashboard", args=["hikers"])
    assert "1 feed failing or stopped" in clients["alice"].get(url).content.decode()
    assert "feed failing" not in clients["mona"].get(url).content.decode()
