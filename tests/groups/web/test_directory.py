"""The group directory: search, filters, sorting, the Private label, hidden groups.

hikers (public, open; alice, mona, bob) from the conftest, plus: "council"
(members-only archive, approval), "choir" (public, invitation only) and
"vault" (hidden; bob is a member). A hidden group appears only to its own
members, marked as such; to anyone else, site admins included, it is not there.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from groups.models import Group, Membership

pytestmark = pytest.mark.django_db
URL = reverse("directory")


@pytest.fixture
def groups(group, people):
    council = Group.objects.create(name="council", title="Town Council",
                                   description="Minutes and motions.",
                                   privacy=Group.Privacy.PRIVATE_ARCHIVE,
                                   join_policy=Group.JoinPolicy.APPROVAL)
    choir = Group.objects.create(name="choir", title="Village Choir",
                                 description="Singing on Thursdays.",
                                 join_policy=Group.JoinPolicy.INVITE)
    vault = Group.objects.create(name="vault", title="Vault", description="Hidden walks.",
                                 privacy=Group.Privacy.HIDDEN)
    Membership.objects.create(group=vault, user=people["bob"], email="bob@example.org")
    Membership.objects.create(group=council, user=people["alice"], email="alice@example.org")
    return {"hikers": group, "council": council, "choir": choir, "vault": vault}


def _listed(client, **params) -> list[str]:
    """Titles of the groups listed, in order."""
    response = client.get(URL, params)
    assert response.status_code == 200
    return re.findall(r'<a href="/g/[^/]+/"><strong>([^<]+)</strong></a>',
                      response.content.decode())


def test_search_by_name_title_or_description(groups, clients):
    anon = clients["anon"]
    assert _listed(anon, q="council") == ["Town Council"]
    assert _listed(anon, q="thursdays") == ["Village Choir"]
    assert _listed(anon, q="HIKERS") == ["Hikers"]
    assert _listed(anon, q="walks") == ["Hikers"]  # not the hidden Vault's "Hidden walks."
    page = anon.get(URL, {"q": "nothing-like-it"}).content.decode()
    assert "No groups match." in page and "Show all groups" in page


def test_private_groups_are_labelled(groups, clients):
    page = clients["anon"].get(URL).content.decode()
    council = page[page.index("<strong>Town Council</strong>"):]
    council = council[:council.index("</li>")]
    assert ">Private</span>" in council
    hikers = page[page.index("<strong>Hikers</strong>"):]
    assert ">Private</span>" not in hikers[:hikers.index("</li>")]


def test_hidden_groups_only_for_their_members(groups, clients):
    for who in ("anon", "charlie", "alice", "root"):
        assert "Vault" not in _listed(clients[who]), who
        assert "Vault" not in _listed(clients[who], q="vault"), who
    assert "Vault" in _listed(clients["bob"])
    page = clients["bob"].get(URL, {"q": "vault"}).content.decode()
    assert ">Private</span>" in page and ">Hidden</span>" in page and ">Member</span>" in page


def test_filters_and_sorting(groups, clients):
    anon, bob = clients["anon"], clients["bob"]
    assert _listed(anon, privacy="private") == ["Town Council"]
    assert _listed(anon, privacy="public") == ["Hikers", "Village Choir"]
    assert _listed(bob, show="mine") == ["Hikers", "Vault"]
    assert _listed(bob, show="joinable") == ["Town Council"]  # choir is by invitation
    assert _listed(anon, sort="members")[0] == "Hikers"
    assert _listed(anon, sort="newest")[0] == "Village Choir"
    assert _listed(anon) == ["Hikers", "Town Council", "Village Choir"]  # by title
    page = anon.get(URL).content.decode()
    for label in ("Search groups", "Privacy", "Sort by"):
        assert f">{label}:</label>" in page
    assert ">Show:</label>" not in page  # "Groups I'm in" means nothing logged out
    assert ">Show:</label>" in bob.get(URL).content.decode()


def test_filters_survive_pagination(group, clients):
    for i in range(30):
        Group.objects.create(name=f"walkers-{i:02d}", title=f"Walkers {i:02d}")
    page = clients["anon"].get(URL, {"q": "walkers"}).content.decode()
    assert "Page 1 of 2" in page and "?q=walkers&amp;page=2" in page


def test_directory_queries_do_not_grow(groups, clients, people):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert clients["bob"].get(URL, {"sort": "active"}).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    for i in range(15):
        g = Group.objects.create(name=f"extra-{i}", privacy=Group.Privacy.PRIVATE_ARCHIVE)
        Membership.objects.create(group=g, user=people["bob"], email="bob@example.org")
    assert count() == small
