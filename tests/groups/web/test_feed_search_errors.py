"""The Atom feed (public groups only), search privacy, and the site admin's errors page."""

from __future__ import annotations

import asyncio
import threading
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from groups.models import Group
from tests.conftest import free_port
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def test_feed_of_a_public_group(group, clients):
    make_post(group, "Trail report", "Muddy.")
    response = clients["anon"].get(reverse("feed", args=["hikers"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    titles = [e.findtext(f"{ATOM}title") for e in feed.iter(f"{ATOM}entry")]
    assert titles == ["Trail report"]


@pytest.mark.parametrize("privacy", ["private_archive", "hidden"])
def test_no_feed_for_private_or_hidden_groups_even_for_members(group, clients, privacy):
    Group.objects.filter(pk=group.pk).update(privacy=privacy)
    assert clients["bob"].get(reverse("feed", args=["hikers"])).status_code == 404


def test_search_page_without_a_backend_says_so(group, clients):
    from groups.web.views.search import _engine

    if _engine() is not None:
        pytest.skip("the search package is installed (tests/groups/web/test_search.py)")
    response = clients["anon"].get(reverse("search") + "?q=walk")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="search"' in page and "Search is not available on this site yet." in page


def test_errors_page_is_for_site_admins_only(group, clients, monkeypatch):
    monkeypatch.setenv("ERRORD_URL", f"http://127.0.0.1:{free_port()}")
    assert clients["alice"].get(reverse("site_errors")).status_code == 302
    response = clients["root"].get(reverse("site_errors"))
    assert response.status_code == 200 and "errord unreachable" in response.content.decode()


def test_errors_page_lists_what_errord_holds(group, clients, monkeypatch, tmp_path):
    from aiohttp import web

    from errord.client import ErrordClient
    from errord.server import make_app
    from errord.store import Store

    port = free_port()
    ready, stop = threading.Event(), threading.Event()

    def serve() -> None:
        async def main() -> None:
            store = Store(tmp_path / "errord.sqlite3", project_dir=str(tmp_path))
            runner = web.AppRunner(make_app(store, "test-internal-token"))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await runner.cleanup()
            store.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("ERRORD_URL", url)
        with ErrordClient(url, "test-internal-token") as client:
            client.report({"service": "web", "message": "boom in the archive",
                           "exc_type": "ValueError", "logger": "groups.web",
                           "traceback": "Traceback (most recent call last):\nValueError: boom"})
        page = clients["root"].get(reverse("site_errors")).content.decode()
        assert "boom in the archive" in page and "ValueError" in page
    finally:
        stop.set()
        thread.join(timeout=5)
