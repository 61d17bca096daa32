"""Fix on the way: after logging in, people land on the join/leave they asked for (a
confirmation, never a 405); refusals are the site's own 404/403 with a way to log in."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from groups.models import Group, Membership
from tests.groups.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def log_in_from(client: Client, next_url: str):
    """Follow the login redirect as a browser does: POST the form with its next=."""
    to_login = client.post(next_url)
    assert to_login.status_code == 302
    login_url = to_login["Location"]
    assert login_url == f"{reverse('login')}?next={next_url}"
    page = client.get(login_url)
    assert page.context["next"] == next_url
    return client.post(login_url, {"username": "charlie@example.org", "password": PASSWORD,
                                   "next": next_url}, follow=True)


def test_join_after_logging_in_lands_on_a_confirmation_that_joins(group, people):
    client = Client()
    join = reverse("join", args=["hikers"])
    landed = log_in_from(client, join)
    assert landed.redirect_chain[-1][0] == join
    assert landed.status_code == 200 and "Join Hikers?" in landed.content.decode()
    assert not Membership.objects.filter(email="charlie@example.org").exists()
    client.post(join)
    assert Membership.objects.get(email="charlie@example.org").status == "active"


def test_ask_to_join_an_approval_group_after_logging_in(group, people):
    Group.objects.filter(pk=group.pk).update(join_policy="approval")
    client = Client()
    landed = log_in_from(client, reverse("join", args=["hikers"]))
    assert "Ask to join" in landed.content.decode()
    client.post(reverse("join", args=["hikers"]))
    assert Membership.objects.get(email="charlie@example.org").status == "pending_approval"


def test_leave_after_logging_in_lands_on_a_confirmation(group, people):
    Membership.objects.create(group=group, user=people["charlie"], email="charlie@example.org")
    client = Client()
    leave = reverse("leave", args=["hikers"])
    landed = log_in_from(client, leave)
    assert landed.status_code == 200 and "Leave Hikers?" in landed.content.decode()
    assert Membership.objects.get(email="charlie@example.org").status == "active"
    client.post(leave)
    assert Membership.objects.get(email="charlie@example.org").status == "unsubscribed"


def test_a_member_already_in_is_told_so(group, clients):
    response = clients["bob"].get(reverse("join", args=["hikers"]), follow=True)
    assert "You are already a member of hikers" in response.content.decode()


def test_refusals_are_the_sites_own_pages_with_a_way_to_log_in(group, clients):
    Group.objects.filter(pk=group.pk).update(privacy="hidden")
    url = reverse("topics", args=["hikers"])
    anon = clients["anon"].get(url)
    page = anon.content.decode()
    assert anon.status_code == 404 and "This page isn't here" in page
    assert "Log in to see this" in page and "?next=/g/hikers/topics/" in page
    # the same page as for a group that doesn't exist: nothing leaks
    missing = clients["anon"].get(reverse("topics", args=["nosuch"])).content.decode()
    assert missing.replace("nosuch", "hikers") == page
    outsider = clients["charlie"].get(url)
    assert outsider.status_code == 404 and "Log in to see this" not in outsider.content.decode()
    assert "<header class=\"site\">" in outsider.content.decode()


def test_members_only_archive_offers_to_log_in(group, clients):
    Group.objects.filter(pk=group.pk).update(privacy="private_archive")
    home = clients["anon"].get(reverse("group_home", args=["hikers"])).content.decode()
    assert "Log in to see it" in home and "?next=/g/hikers/" in home


def test_403_is_the_sites_own_page(group, clients, settings):
    settings.GROUP_CREATION = "staff"
    response = clients["charlie"].get(reverse("create_group"))
    assert response.status_code == 403
    assert "You can't do this here" in response.content.decode()
    assert "<header class=\"site\">" in response.content.decode()
