"""One search box on every page, results first, then filters to refine them: on both engines.

Every test here runs twice: on the database's own full-text search and on
OpenSearch, an osmem-server (the in-memory OpenSearch-compatible engine of the
osmem-server wheel) started on a free loopback port by tests/search/conftest.py's
``opensearch_url`` fixture and spoken to with opensearch-py, as
SEARCH_CLIENT=opensearch would. Each filter (group, author, dates, has
attachment, hashtag) must narrow the same way on both.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from groups.models import Attachment, Group, Hashtag, Membership
from tests.groups.web.conftest import make_post

if "search" not in settings.INSTALLED_APPS:
    pytest.skip('"search" is not in INSTALLED_APPS yet', allow_module_level=True)

import search  # noqa: E402 - only importable as an app once installed
from tests.search.conftest import opensearch_backend, opensearch_url  # noqa: E402, F401

pytestmark = pytest.mark.django_db
URL = reverse("search")


@pytest.fixture(params=["database", "opensearch"])
def engine(request):
    if request.param == "opensearch":
        return request.getfixturevalue("opensearch_backend")
    return search.get_backend()


@pytest.fixture
def archive(engine, group, people):
    """hikers ("Hikers", public) and council ("Town Council", members only; bob is in)."""
    council = Group.objects.create(name="council", title="Town Council",
                                   privacy=Group.Privacy.PRIVATE_ARCHIVE)
    Membership.objects.create(group=council, user=people["bob"], email="bob@example.org")
    gear = Hashtag.objects.create(group=group, name="gear")
    posts = {}
    posts["map"] = make_post(group, "Trail map scan", "The trail map, scanned.",
                             sender="alice@example.org", minutes_ago=60 * 24 * 5)
    Attachment.objects.create(message=posts["map"], filename="map.pdf",
                              content_type="application/pdf", size=10, path="x/map.pdf")
    posts["boots"] = make_post(group, "Boots for the trail", "Which boots for the trail?",
                               sender="bob@example.org", minutes_ago=60)
    posts["boots"].topic.hashtags.add(gear)
    posts["minutes"] = make_post(council, "Trail budget", "Council minutes about the trail.",
                                 sender="bob@example.org")
    for m in posts.values():
        m.refresh_from_db()
        search.index(m)
    return posts


def _get(client, **params) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content.decode()[-2000:]
    return response.content.decode()


def _results(page: str) -> str:
    return page[page.index('id="result-count"'):page.index('class="refine"')]


def test_results_name_groups_by_title_and_filters_follow_them(archive, clients):
    page = _get(clients["bob"], q="trail")
    assert "3 messages found" in page
    results = _results(page)
    assert ">Hikers</a> #" in results and ">Town Council</a> #" in results
    # The filters come after the results, as a form of their own.
    refine = page[page.index('class="refine"'):]
    for label in ("Group", "Author", "From", "To (inclusive)", "Has attachment", "Hashtag"):
        assert f">{label}:</label>" in refine
    assert page.index('id="result-count"') < page.index('class="refine"')
    assert '<option value="council">Town Council</option>' in refine
    # Before any search, the page is just the box.
    first = _get(clients["bob"])
    assert 'class="refine"' not in first and "Has attachment" not in first


def test_each_filter_narrows_the_results(archive, clients):
    bob = clients["bob"]
    today = timezone.localdate()
    cases = [
        ({"group": "council"}, ["Trail budget"]),
        ({"author": "alice@example.org"}, ["Trail map scan"]),
        ({"author": "Bob"}, ["Boots for the trail", "Trail budget"]),
        ({"has_attachment": "on"}, ["Trail map scan"]),
        ({"hashtag": "#gear"}, ["Boots for the trail"]),
        ({"date_from": str(today - timedelta(days=6)),
          "date_to": str(today - timedelta(days=4))}, ["Trail map scan"]),
        ({"date_from": str(today), "group": "hikers"}, ["Boots for the trail"]),
    ]
    for params, expected in cases:
        results = _results(_get(bob, q="trail", **params))
        found = sorted(s for s in ("Trail map scan", "Boots for the trail", "Trail budget")
                       if s in results)
        assert found == sorted(expected), params
    # Filters alone (no words) search too.
    results = _results(_get(bob, has_attachment="on"))
    assert "1 message found" in results and "Trail map scan" in results


def test_outsiders_get_neither_private_hits_nor_private_group_titles(archive, clients):
    for who in ("anon", "charlie"):
        page = _get(clients[who], q="trail", group="council")
        assert "0 messages found" in page and "Town Council" not in page
        assert "Searching in" not in page
        page = _get(clients[who], q="trail")
        assert "2 messages found" in page and "Town Council" not in page
        assert "Trail budget" not in page


def test_a_search_scoped_to_a_group_offers_to_widen(archive, clients):
    page = _get(clients["bob"], q="trail", group="hikers")
    assert "Searching in Hikers only." in page and "2 messages found" in page
    assert 'href="?q=trail">Search all groups</a>' in page
    assert "3 messages found" in _get(clients["bob"], q="trail")


def test_the_header_box_is_on_every_page_and_scoped_on_a_groups_pages(archive, clients):
    box = '<form class="site-search" role="search" method="get" action="/search/">'
    topic = archive["boots"].topic
    for url in (reverse("directory"), reverse("my_groups"),
                reverse("topic", args=["hikers", topic.pk])):
        page = clients["bob"].get(url).content.decode()
        assert box in page, url
    group_page = clients["bob"].get(reverse("topics", args=["hikers"])).content.decode()
    header = group_page[group_page.index(box):group_page.index("</header>")]
    assert '<input type="hidden" name="group" value="hikers">' in header
    assert 'placeholder="Search Hikers"' in header
    home = clients["bob"].get(reverse("directory")).content.decode()
    header = home[home.index(box):home.index("</header>")]
    assert 'name="group"' not in header and 'placeholder="Search all groups"' in header
    # The search page has its own box, so the header's gives way there.
    assert box not in _get(clients["bob"], q="trail")
