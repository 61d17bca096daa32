"""Reading pages: directory, group home, topics, topic, message, attachments; privacy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import Attachment, Group, Hashtag, Membership
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db


def test_directory_lists_public_and_private_but_never_hidden(group, clients):
    Group.objects.create(name="members-only", privacy=Group.Privacy.PRIVATE_ARCHIVE)
    Group.objects.create(name="secret-club", privacy=Group.Privacy.HIDDEN)
    for who in ("anon", "charlie", "root"):
        page = clients[who].get(reverse("directory")).content.decode()
        assert "hikers" in page and "members-only" in page
        assert "secret-club" not in page


def test_group_home_shows_topics_and_member_count(group, clients):
    make_post(group, "Sunday walk", "Meet at nine.")
    response = clients["anon"].get(reverse("group_home", args=["hikers"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Sunday walk" in page and "3 members" in page and "Join this group" in page


def test_topic_page_shows_thread_with_quotes_folded(group, clients):
    first = make_post(group, "Sunday walk", "Meet at nine.")
    make_post(group, "Re: Sunday walk", "I'll be there.\n\nOn Mon, Bob wrote:\n> Meet at nine.",
              topic=first.topic, sender="alice@example.org")
    response = clients["anon"].get(reverse("topic", args=["hikers", first.topic_id]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "I&#x27;ll be there." in page
    assert '<details class="quote"><summary>Show quoted text</summary><pre>On Mon, Bob wrote:' in page


def test_message_html_is_shown_only_from_sanitised_field(group, clients):
    msg = make_post(group, "Pics", text="", html="<p>Look <b>here</b></p>")
    page = clients["anon"].get(reverse("message", args=["hikers", msg.number])).content.decode()
    assert "<p>Look <b>here</b></p>" in page
    msg2 = make_post(group, "Script", text="<script>alert(1)</script>")
    page = clients["anon"].get(reverse("message", args=["hikers", msg2.number])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("privacy", [Group.Privacy.PRIVATE_ARCHIVE, Group.Privacy.HIDDEN])
def test_members_only_archive_is_404_to_outsiders(group, clients, privacy):
    msg = make_post(group, "Private plans")
    Group.objects.filter(pk=group.pk).update(privacy=privacy)
    urls = [reverse("topics", args=["hikers"]), reverse("topic", args=["hikers", msg.topic_id]),
            reverse("message", args=["hikers", msg.number])]
    for url in urls:
        for who in ("anon", "charlie"):
            assert clients[who].get(url).status_code == 404, (who, url)
        for who in ("bob", "mona", "alice", "root"):
            assert clients[who].get(url).status_code == 200, (who, url)
    home = clients["charlie"].get(reverse("group_home", args=["hikers"]))
    if privacy == Group.Privacy.HIDDEN:
        assert home.status_code == 404
    else:
        assert home.status_code == 200 and "Private plans" not in home.content.decode()


def test_unsubscribed_member_loses_members_only_archive(group, clients):
    msg = make_post(group, "Private plans")
    Group.objects.filter(pk=group.pk).update(privacy=Group.Privacy.PRIVATE_ARCHIVE)
    Membership.objects.filter(email="bob@example.org").update(status="unsubscribed")
    assert clients["bob"].get(reverse("message", args=["hikers", msg.number])).status_code == 404


def test_topics_sticky_first_and_filter_by_hashtag(group, clients):
    old = make_post(group, "Rules #admin", minutes_ago=100)
    make_post(group, "Newest walk", minutes_ago=1)
    tagged = make_post(group, "Boots #gear", minutes_ago=50)
    gear = Hashtag.objects.create(group=group, name="gear")
    tagged.topic.hashtags.add(gear)
    old.topic.sticky = True
    old.topic.save()
    page = clients["anon"].get(reverse("topics", args=["hikers"])).content.decode()
    assert page.index("Rules #admin") < page.index("Newest walk") < page.index("Boots #gear")
    assert "#gear</a>" in page
    filtered = clients["anon"].get(reverse("topics", args=["hikers"]) + "?hashtag=gear")
    assert "Boots #gear" in filtered.content.decode()
    assert "Newest walk" not in filtered.content.decode()
    assert clients["anon"].get(reverse("topics", args=["hikers"]) + "?hashtag=nope"
                               ).status_code == 404


def test_topics_are_paginated(group, clients):
    for i in range(30):
        make_post(group, f"Walk number {i:02d}", minutes_ago=i)
    first = clients["anon"].get(reverse("topics", args=["hikers"])).content.decode()
    second = clients["anon"].get(reverse("topics", args=["hikers"]) + "?page=2").content.decode()
    assert "Walk number 00" in first and "Walk number 29" not in first
    assert "Walk number 29" in second and "Page 2 of 2" in second


def _attach(msg, tmp_path, settings, name="notes.txt", ctype="text/plain", data=b"bring water"):
    settings.ATTACHMENTS_DIR = tmp_path
    (tmp_path / "hikers").mkdir(exist_ok=True)
    (tmp_path / "hikers" / name).write_bytes(data)
    return Attachment.objects.create(message=msg, filename=name, content_type=ctype,
                                     size=len(data), path=f"hikers/{name}")


def test_attachment_download_checks_access(group, clients, tmp_path, settings):
    msg = make_post(group, "Packing list")
    att = _attach(msg, tmp_path, settings)
    url = reverse("attachment", args=["hikers", att.pk, att.filename])
    response = clients["anon"].get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"bring water"
    Group.objects.filter(pk=group.pk).update(privacy=Group.Privacy.PRIVATE_ARCHIVE)
    assert clients["charlie"].get(url).status_code == 404
    assert clients["bob"].get(url).status_code == 200
    other = Group.objects.create(name="other")
    assert clients["bob"].get(reverse("attachment", args=["other", att.pk, "x"])
                              ).status_code == 404
    assert other.pk


def test_html_attachment_is_downloaded_not_rendered(group, clients, tmp_path, settings):
    msg = make_post(group, "Page")
    att = _attach(msg, tmp_path, settings, "evil.html", "text/html", b"<script>x</script>")
    response = clients["anon"].get(reverse("attachment", args=["hikers", att.pk, att.filename]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")


def test_attachment_path_outside_the_store_is_refused(group, clients, tmp_path, settings):
    msg = make_post(group, "Sneaky")
    att = _attach(msg, tmp_path, settings)
    Attachment.objects.filter(pk=att.pk).update(path="../../etc/passwd")
    assert clients["anon"].get(reverse("attachment", args=["hikers", att.pk, "x"])
                               ).status_code == 404


def test_topic_list_and_topic_query_counts_do_not_grow(group, clients, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert clients["bob"].get(url).status_code == 200
        return len(ctx.captured_queries)

    tag = Hashtag.objects.create(group=group, name="gear")
    first = make_post(group, "Thread")
    make_post(group, "Other").topic.hashtags.add(tag)
    topics_url = reverse("topics", args=["hikers"])
    topic_url = reverse("topic", args=["hikers", first.topic_id])
    home_url = reverse("group_home", args=["hikers"])
    small = (count(topics_url), count(topic_url), count(home_url))
    for i in range(15):
        m = make_post(group, f"More {i}")
        m.topic.hashtags.add(tag)
        make_post(group, "Re: Thread", f"reply {i}", topic=first.topic)
    big = (count(topics_url), count(topic_url), count(home_url))
    assert small == big


def test_pages_link_the_apps_own_static_assets(group, clients):
    page = clients["anon"].get(reverse("directory")).content.decode()
    assert '<link rel="stylesheet" href="/static/groups/site.css">' in page
    assert "https://" not in page.split("<main")[0]  # no CDN in the head
    for path in ("/static/groups/site.css", "/static/groups/site.js"):
        response = clients["anon"].get(path)
        assert response.status_code == 200, path
