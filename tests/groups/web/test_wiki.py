"""The wiki: Markdown pages with the posts' sanitiser, [[links]] between pages, history
with diffs and revert, who may edit, a conflicting save refused, changes announced."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import Group, Message, WikiPage

pytestmark = pytest.mark.django_db


def save(client, slug: str, title: str, body: str, base: int = 0, **extra):  # noqa: ANN201
    return client.post(reverse("wiki_edit", args=["hikers", slug]),
                       {"title": title, "body": body, "base": base, "comment": "", **extra})


def test_pages_links_and_sanitising(group, clients):
    done = save(clients["bob"], "home", "Home", "Welcome! See [[Trail notes]].\n\n"
                                                "<script>alert(1)</script>\n\n```python\nx = 1\n```")
    assert done.status_code == 302, done.content.decode()[:1500]
    page = clients["anon"].get(reverse("wiki", args=["hikers"])).content.decode()
    assert "Welcome!" in page and "<script>alert" not in page
    assert 'href="/g/hikers/wiki/trail-notes/"' in page and "Trail notes (new page)" in page
    assert 'class="highlight"' in page  # the posts' code highlighting
    new = clients["bob"].get(reverse("wiki_page", args=["hikers", "trail-notes"]))
    assert new.status_code == 302 and new["Location"].endswith("/wiki/trail-notes/edit/")
    save(clients["bob"], "trail-notes", "Trail notes", "Muddy after rain.")
    assert "Trail notes (new page)" not in clients["anon"].get(
        reverse("wiki", args=["hikers"])).content.decode()
    fresh = clients["bob"].post(reverse("wiki_edit", args=["hikers", "new"]),
                                {"title": "Gear list", "body": "Boots.", "base": 0})
    assert fresh.status_code == 302 and WikiPage.objects.filter(slug="gear-list").exists()


def test_history_diff_revert_and_conflicts(group, clients):
    save(clients["bob"], "rules", "Rules", "Be kind.\nBring water.")
    save(clients["mona"], "rules", "Rules", "Be kind.\nBring snacks.", base=1,
         comment="snacks")
    stale = save(clients["bob"], "rules", "Rules", "Be kind.", base=1)
    assert stale.status_code == 409 and "was changed" in stale.content.decode()
    history = reverse("wiki_history", args=["hikers", "rules"])
    page = clients["anon"].get(history, {"from": 1, "to": 2}).content.decode()
    assert '<span class="removed">- Bring water.</span>' in page
    assert '<span class="added">+ Bring snacks.</span>' in page and "snacks" in page
    clients["bob"].post(history, {"revert": 1})
    rules = WikiPage.objects.get(slug="rules")
    assert (rules.revision, rules.body) == (3, "Be kind.\nBring water.")
    assert rules.revisions.get(number=3).comment == "Reverted to version 1"
    assert clients["anon"].post(history, {"revert": 2}).status_code in (302, 404)


def test_who_may_edit_and_privacy(group, clients):
    assert save(clients["charlie"], "x", "X", "y").status_code == 404
    Group.objects.filter(pk=group.pk).update(wiki_edited_by="moderators")
    assert save(clients["bob"], "x", "X", "y").status_code == 404
    assert save(clients["mona"], "x", "X", "y").status_code == 302
    Group.objects.filter(pk=group.pk).update(privacy=Group.Privacy.PRIVATE_ARCHIVE)
    for url in (reverse("wiki", args=["hikers"]), reverse("wiki_page", args=["hikers", "x"]),
                reverse("wiki_history", args=["hikers", "x"])):
        assert clients["anon"].get(url).status_code in (302, 404)
        assert clients["charlie"].get(url).status_code == 404
        assert clients["bob"].get(url).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_change_can_be_announced(messageserver, group, clients):
    save(clients["bob"], "home", "Home", "Hello", announce="on", comment="first words")
    msg = Message.objects.get(subject="Wiki: Home")
    assert "first words" in msg.body_text and "/g/hikers/wiki/home/" in msg.body_text
