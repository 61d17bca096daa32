"""Site admins' list of every group (size, activity, search, pages), suspend and delete."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import Group, Membership, Message
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db
LIST = reverse("site_groups")


def detail(name: str = "hikers") -> str:
    return reverse("site_group", args=[name])


def test_only_site_admins(group, clients):
    for url in (LIST, detail()):
        assert clients["anon"].get(url).status_code == 302
        for who in ("alice", "mona", "bob", "charlie"):
            assert clients[who].get(url).status_code == 404, who
        assert clients["root"].get(url).status_code == 200
    clients["alice"].post(detail(), {"action": "suspend"})
    clients["alice"].post(detail(), {"action": "delete", "confirm_name": "hikers"})
    assert Group.objects.filter(name="hikers", suspended=False).exists()


def test_list_shows_size_and_activity(group, clients):
    make_post(group, "Recent")
    make_post(group, "Old", minutes_ago=60 * 24 * 40)
    Membership.objects.create(group=group, email="gone@example.org", status="unsubscribed")
    Group.objects.create(name="quiet", title="Quiet")
    page = clients["root"].get(LIST)
    rows = {g.name: g for g in page.context["page"]}
    assert (rows["hikers"].active_members, rows["hikers"].recent_messages) == (3, 1)
    assert rows["hikers"].last_post == Message.objects.order_by("-date").first().date
    assert (rows["quiet"].active_members, rows["quiet"].recent_messages,
            rows["quiet"].last_post) == (0, 0, None)
    assert "never" in page.content.decode()


def test_search_and_pages(group, clients):
    for i in range(30):
        Group.objects.create(name=f"club-{i:02d}", title=f"Club {i}")
    found = clients["root"].get(LIST, {"q": "hik"}).context["page"]
    assert [g.name for g in found] == ["hikers"]
    assert [g.name for g in clients["root"].get(LIST, {"q": "Club 7"}).context["page"]] == [
        "club-07"]
    first = clients["root"].get(LIST).context["page"]
    second = clients["root"].get(LIST, {"page": 2}).context["page"]
    assert len(first) == 25 and len(second) == 6
    assert clients["root"].get(LIST, {"page": "x"}).status_code == 200


def test_suspend_and_lift(group, clients):
    response = clients["root"].post(detail(), {"action": "suspend"}, follow=True)
    assert "hikers is suspended" in response.content.decode()
    assert Group.objects.get(name="hikers").suspended
    home = clients["bob"].get(reverse("group_home", args=["hikers"])).content.decode()
    assert "This group is suspended" in home
    assert "Suspended" in clients["anon"].get(reverse("directory")).content.decode()
    clients["root"].post(detail(), {"action": "unsuspend"})
    assert not Group.objects.get(name="hikers").suspended


def test_delete_after_typing_the_name(group, clients):
    make_post(group, "A walk")
    bad = clients["root"].post(detail(), {"action": "delete", "confirm_name": "hiker"})
    assert bad.status_code == 400
    assert "confirm_name" in bad.context["delete"].errors
    ok = clients["root"].post(detail(), {"action": "delete", "confirm_name": "hikers"})
    assert ok.status_code == 302 and ok["Location"] == LIST
    assert not Group.objects.exists() and not Message.objects.exists()


def test_unknown_group_is_the_sites_own_404(clients, people):
    response = clients["root"].get(detail("nope"))
    assert response.status_code == 404 and "This page isn't here" in response.content.decode()
