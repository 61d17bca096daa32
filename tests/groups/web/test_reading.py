"""Reading a topic flat or threaded, what is new since the last visit, my and followed topics.

The hikers fixture (tests/groups/web/conftest.py): alice owns it, bob is a member,
charlie an outsider. Replies carry real In-Reply-To/References values, as
messageserver archives them from the mail's headers.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from groups import readstate
from groups.models import Group, Membership, Message, ReaderSettings, TopicPreference, TopicRead
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db


def reply(parent: Message, text: str, sender: str = "alice@example.org",
          minutes_ago: int = 0) -> Message:
    """A reply to ``parent`` with the headers a mail client writes."""
    msg = make_post(parent.group, f"Re: {parent.topic.subject}", text, sender=sender,
                    topic=parent.topic, minutes_ago=minutes_ago)
    refs = " ".join(filter(None, [parent.references, parent.message_id]))
    Message.objects.filter(pk=msg.pk).update(in_reply_to=parent.message_id, references=refs)
    msg.refresh_from_db()
    return msg


@pytest.fixture
def conversation(group):
    """root <- a1 <- a2, root <- b1, posted in the order root, a1, b1, a2."""
    root = make_post(group, "Trail map", "Who has the trail map?", minutes_ago=40)
    a1 = reply(root, "I do.\n\nOn Sun, Bob wrote:\n> Who has the trail map?", minutes_ago=30)
    b1 = reply(root, "Ask the ranger.", sender="mona@example.org", minutes_ago=20)
    a2 = reply(a1, "Great, bring it.\n\n> I do.", sender="bob@example.org", minutes_ago=10)
    return {"root": root, "a1": a1, "b1": b1, "a2": a2}


def _order(page: str) -> list[tuple[int, int]]:
    """(message number, depth) of each message on a topic page, top to bottom."""
    return [(int(n), int(d)) for d, n in
            re.findall(r'<article class="message depth-(\d+)[^"]*" id="m(\d+)"', page)]


def _topic(client, m: Message, **params) -> str:
    response = client.get(reverse("topic", args=[m.group.name, m.topic_id]), params)
    assert response.status_code == 200
    return response.content.decode()


def test_flat_is_by_date_and_threaded_follows_the_reply_tree(conversation, clients):
    c = conversation
    flat = _order(_topic(clients["anon"], c["root"]))
    assert flat == [(c[k].number, 0) for k in ("root", "a1", "b1", "a2")]
    threaded = _order(_topic(clients["anon"], c["root"], layout="threaded"))
    assert threaded == [(c["root"].number, 0), (c["a1"].number, 1), (c["a2"].number, 2),
                        (c["b1"].number, 1)]


def test_threaded_messages_say_what_they_answer_and_keep_quotes_folded(conversation, clients):
    page = _topic(clients["anon"], conversation["root"], layout="threaded")
    a1 = conversation["a1"].number
    assert f'href="#m{a1}">in reply to #{a1}</a>' in page
    assert ('<details class="quote"><summary>Show quoted text</summary><pre>On Sun, Bob wrote:'
            in page)
    assert '<details class="quote"><summary>Show quoted text</summary><pre>&gt; I do.' in page


def test_a_reply_to_a_message_not_in_the_topic_starts_its_own_branch(conversation, clients):
    stray = make_post(conversation["root"].group, "Re: Trail map", "Late reply.",
                      topic=conversation["root"].topic)
    Message.objects.filter(pk=stray.pk).update(in_reply_to="<elsewhere@example.org>",
                                               references="<elsewhere@example.org>")
    order = _order(_topic(clients["anon"], stray, layout="threaded"))
    assert order[-1] == (stray.number, 0) and len(order) == 5


def test_the_layout_is_remembered_per_person(conversation, clients, people):
    url = reverse("topic_layout", args=["hikers", conversation["root"].topic_id])
    response = clients["bob"].post(url, {"layout": "threaded"})
    assert response.status_code == 302
    assert ReaderSettings.objects.get(user=people["bob"]).topic_layout == "threaded"
    page = _topic(clients["bob"], conversation["root"])
    assert _order(page)[2] == (conversation["a2"].number, 2)
    assert 'value="threaded" aria-pressed="true"' in page
    # Someone else still reads flat; a query parameter overrides for one view.
    assert _order(_topic(clients["alice"], conversation["root"]))[2][1] == 0
    assert _order(_topic(clients["bob"], conversation["root"], layout="flat"))[2][1] == 0
    clients["bob"].post(url, {"layout": "sideways"})  # ignored, not stored
    assert ReaderSettings.objects.get(user=people["bob"]).topic_layout == "threaded"
    assert clients["anon"].post(url, {"layout": "flat"}).status_code == 302  # to log in
    assert 'href="?layout=threaded"' in _topic(clients["anon"], conversation["root"])


def test_new_since_the_last_visit(conversation, clients, people):
    root = conversation["root"]
    topics_url = reverse("topics", args=["hikers"])
    bob = clients["bob"]
    # Never opened: older than bob's account, so not news to him; a later one is "New".
    assert "badge new" not in bob.get(topics_url).content.decode()
    fresh = make_post(root.group, "Fresh topic")
    listing = bob.get(topics_url).content.decode()
    assert listing.count('<span class="badge new">New</span>') == 1
    assert listing.index("Fresh topic") < listing.index("badge new") < listing.index("Trail map")
    _topic(bob, fresh)
    first = _topic(bob, root)
    assert "Jump to first new message" not in first and 'id="first-new"' not in first
    assert TopicRead.objects.get(user=people["bob"], topic=root.topic).last_number == (
        conversation["a2"].number)
    listing = bob.get(topics_url).content.decode()
    assert "badge new" not in listing
    later = reply(conversation["b1"], "Ranger says the map is outdated.")
    reply(later, "Oh no.")
    listing = bob.get(topics_url).content.decode()
    assert f'href="{reverse("topic", args=["hikers", root.topic_id])}#first-new">2 new</a>' in (
        listing)
    home = bob.get(reverse("group_home", args=["hikers"])).content.decode()
    assert ">2 new</a>" in home
    page = _topic(bob, root)
    assert 'href="#first-new">Jump to first new message</a>' in page
    marker = page.index('id="first-new"')
    assert marker < page.index(f'id="m{later.number}"')
    assert page.index(f'id="m{conversation["a2"].number}"') < marker
    # Seen now; another person's visits are their own.
    assert "badge new" not in bob.get(topics_url).content.decode()
    assert "Jump to first new message" not in _topic(bob, root)
    assert ">2 new</a>" not in clients["alice"].get(topics_url).content.decode()


def test_the_first_new_message_may_be_on_a_later_page(group, clients, people, monkeypatch):
    from groups.web.views import archive

    monkeypatch.setattr(archive, "TOPIC_PER_PAGE", 3)
    root = make_post(group, "Long one", "start", minutes_ago=100)
    for i in range(3):
        reply(root, f"old {i}", minutes_ago=90 - i)
    _topic(clients["bob"], root)  # page 1: messages 1-3 seen
    page = _topic(clients["bob"], root)
    assert '?page=2#first-new">Jump to first new message</a>' in page


def test_read_marks_never_move_backwards(conversation, people):
    topic = conversation["root"].topic
    readstate.mark_read(people["bob"], topic, 4)
    readstate.mark_read(people["bob"], topic, 2)
    assert TopicRead.objects.get(user=people["bob"], topic=topic).last_number == 4
    readstate.mark_read(people["bob"], topic, 9)
    assert TopicRead.objects.get(user=people["bob"], topic=topic).last_number == 9
    assert TopicRead.objects.count() == 1


def test_viewing_a_topic_records_the_visit_in_one_statement(conversation, clients):
    with CaptureQueriesContext(connection) as ctx:
        _topic(clients["bob"], conversation["root"])
    writes = [q["sql"] for q in ctx.captured_queries if "groups_topicread" in q["sql"]
              and not q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(writes) == 1 and "ON CONFLICT" in writes[0]


@pytest.fixture
def elsewhere(group, people):
    """Three more groups bob has posted in: one he left, one private he never joined."""
    left = Group.objects.create(name="old-club", title="Old Club")
    Membership.objects.create(group=left, user=people["bob"], email="bob@example.org",
                              status=Membership.Status.UNSUBSCRIBED)
    private = Group.objects.create(name="inner", title="Inner Circle",
                                   privacy=Group.Privacy.PRIVATE_ARCHIVE)
    Membership.objects.create(group=private, user=people["alice"], email="alice@example.org")
    joined = Group.objects.create(name="cyclists", title="Cyclists")
    Membership.objects.create(group=joined, user=people["bob"], email="bob@example.org")
    return {"left": left, "private": private, "joined": joined}


def test_my_topics_are_those_i_started_or_replied_to_in_my_groups(group, elsewhere, clients):
    started = make_post(group, "Bob's walk", sender="bob@example.org", minutes_ago=5)
    theirs = make_post(group, "Alice's walk", sender="alice@example.org", minutes_ago=4)
    reply(theirs, "Count me in", sender="Bob@Example.org")
    make_post(group, "Not mine", sender="alice@example.org")
    make_post(elsewhere["joined"], "Bike fixing", sender="bob@example.org")
    make_post(elsewhere["left"], "Old club news", sender="bob@example.org")
    make_post(elsewhere["private"], "Inner secrets", sender="bob@example.org")
    response = clients["bob"].get(reverse("my_topics"))
    page = response.content.decode()
    assert response.status_code == 200 and "<h1>My topics</h1>" in page
    for subject in ("Bob&#x27;s walk", "Alice&#x27;s walk", "Bike fixing"):
        assert subject in page
    for subject in ("Not mine", "Old club news", "Inner secrets"):
        assert subject not in page
    assert ">Cyclists</a>" in page and ">Hikers</a>" in page  # group titles, not names
    assert reverse("topic", args=["hikers", started.topic_id]) in page
    assert clients["anon"].get(reverse("my_topics")).status_code == 302


def test_followed_topics_list_only_follows_in_groups_i_am_still_in(group, elsewhere, clients,
                                                                    people):
    followed = make_post(group, "Gear list")
    make_post(group, "Unfollowed")
    clients["bob"].post(reverse("topic_preference", args=["hikers", followed.topic_id]),
                        {"mode": "follow"})
    gone = make_post(elsewhere["left"], "Left behind")
    TopicPreference.objects.create(membership=Membership.objects.get(group=elsewhere["left"]),
                                   topic=gone.topic, mode="follow")
    page = clients["bob"].get(reverse("followed_topics")).content.decode()
    assert "<h1>Followed topics</h1>" in page and "Gear list" in page
    assert "Unfollowed" not in page and "Left behind" not in page
    nav = clients["bob"].get(reverse("directory")).content.decode()
    assert f'href="{reverse("my_topics")}">My topics</a>' in nav
    assert f'href="{reverse("followed_topics")}">Followed topics</a>' in nav
    assert "Followed topics" not in clients["anon"].get(reverse("directory")).content.decode()


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_reading_lists_cost_the_same_however_long(group, elsewhere, clients, people):
    urls = [reverse("my_topics"), reverse("followed_topics"), reverse("topics", args=["hikers"])]
    bob = Membership.objects.get(group=group, user=people["bob"])

    def add(n: int) -> None:
        for i in range(n):
            m = make_post(group if i % 2 else elsewhere["joined"], f"Topic {i}",
                          sender="bob@example.org")
            reply(m, "again", sender="bob@example.org")
            if i % 2:
                TopicPreference.objects.create(membership=bob, topic=m.topic, mode="follow")
                _topic(clients["bob"], m)  # some read, some not
    add(2)
    small = [_count(clients["bob"], u) for u in urls]
    add(12)
    big = [_count(clients["bob"], u) for u in urls]
    assert small == big
