"""Archive management on the web: rename, move, merge, split, lock, stick, delete, mbox.

Each action's effect is checked in the archive (topics, counters, numbers);
bad input is a form error naming the field; members and outsiders get 404.
"""

from __future__ import annotations

import mailbox

import pytest
from django.urls import reverse

from groups.models import ActivityEntry, Hashtag, Message, RawMessage, Topic, TopicPreference
from tests.groups.web.conftest import make_post


def manage(topic: Topic) -> str:
    return reverse("mod_topic_manage", args=["hikers", topic.pk])


def msg_manage(message: Message) -> str:
    return reverse("mod_message_manage", args=["hikers", message.number])


@pytest.fixture
def thread(group):
    """A topic of three messages (oldest first) and another topic of one."""
    first = make_post(group, "Sunday walk", "Who comes?", minutes_ago=30)
    second = make_post(group, "Re: Sunday walk", "Me.", topic=first.topic, minutes_ago=20)
    third = make_post(group, "Re: Sunday walk", "Buy my boots!", topic=first.topic,
                      minutes_ago=10)
    other = make_post(group, "Boots for sale", "Nearly new.", minutes_ago=5)
    return first, second, third, other


@pytest.mark.parametrize("who,status", [("alice", 200), ("mona", 200), ("root", 200),
                                        ("bob", 404), ("charlie", 404)])
def test_manage_pages_for_owners_and_moderators_only(thread, clients, who, status):
    first, *_ = thread
    assert clients[who].get(manage(first.topic)).status_code == status
    assert clients[who].get(msg_manage(first)).status_code == status
    assert clients[who].get(reverse("mod_archive", args=["hikers"])).status_code == status
    before = Topic.objects.get(pk=first.topic_id).subject
    clients[who].post(manage(first.topic), {"action": "rename", "subject": "Changed"})
    after = Topic.objects.get(pk=first.topic_id).subject
    assert (after == "Changed") == (status == 200) and (after == before) == (status != 200)


def test_rename_topic(thread, clients):
    first, *_ = thread
    response = clients["mona"].post(manage(first.topic), {"action": "rename",
                                                           "subject": "  Sunday   walk, 9am "})
    assert response.status_code == 302
    topic = Topic.objects.get(pk=first.topic_id)
    assert topic.subject == "Sunday walk, 9am" and topic.normalized_subject == "sunday walk, 9am"
    assert ActivityEntry.objects.get(verb="rename_topic").detail == {
        "subject": ["Sunday walk", "Sunday walk, 9am"]}
    bad = clients["mona"].post(manage(first.topic), {"action": "rename", "subject": "   "})
    assert bad.status_code == 400 and "Topic subject" in bad.content.decode()


def test_move_message_keeps_counters_true(thread, clients):
    first, second, third, other = thread
    response = clients["mona"].post(msg_manage(third), {"action": "move",
                                                        "move-target": other.topic_id})
    assert response.status_code == 302
    third.refresh_from_db()
    assert third.topic_id == other.topic_id and third.number == 3
    src, dst = Topic.objects.get(pk=first.topic_id), Topic.objects.get(pk=other.topic_id)
    assert (src.message_count, src.last_message_id) == (2, second.pk)
    assert (dst.message_count, dst.first_message_id, dst.last_message_id) == (2, third.pk,
                                                                              other.pk)
    [entry] = ActivityEntry.objects.filter(verb="move_message")
    assert (entry.actor, entry.target) == ("mona@example.org", "message #3")
    assert entry.detail == {"topic": ["Sunday walk", "Boots for sale"]}


def test_moving_the_last_message_removes_the_empty_topic(thread, clients):
    first, *_, other = thread
    clients["mona"].post(msg_manage(other), {"action": "move", "move-target": first.topic_id})
    assert not Topic.objects.filter(pk=other.topic_id).exists()
    assert Topic.objects.get(pk=first.topic_id).message_count == 4


@pytest.mark.parametrize("data,says", [
    ({"action": "move"}, "This field is required"),
    ({"action": "move", "move-target": "999999"}, "Select a valid choice"),
    ({"action": "split", "split-subject": "x" * 501}, "at most 500 characters"),
    ({"action": "fly"}, "Choose move or split"),
])
def test_bad_move_or_split_is_a_form_error(thread, clients, data, says):
    _, second, *_ = thread
    response = clients["mona"].post(msg_manage(second), data, follow=True)
    assert response.status_code in (200, 400) and says in response.content.decode()
    second.refresh_from_db()
    assert Topic.objects.count() == 2 and second.topic.message_count == 3


def test_move_to_another_groups_topic_is_refused(thread, clients):
    from groups.models import Group

    sailors = Group.objects.create(name="sailors")
    foreign = make_post(sailors, "Ahoy")
    _, second, *_ = thread
    response = clients["mona"].post(msg_manage(second), {"action": "move",
                                                         "move-target": foreign.topic_id})
    assert response.status_code == 400
    second.refresh_from_db()
    assert second.topic.group.name == "hikers"


def test_merge_topics(thread, clients, group, people):
    first, second, third, other = thread
    tag = Hashtag.objects.create(group=group, name="gear")
    other.topic.hashtags.add(tag)
    bob = group.memberships.get(email="bob@example.org")
    TopicPreference.objects.create(membership=bob, topic=other.topic, mode="mute")
    response = clients["alice"].post(manage(other.topic), {"action": "merge",
                                                            "merge-target": first.topic_id})
    assert response.status_code == 302
    assert not Topic.objects.filter(pk=other.topic_id).exists()
    target = Topic.objects.get(pk=first.topic_id)
    assert target.subject == "Sunday walk" and target.message_count == 4
    assert list(target.messages.order_by("date").values_list("number", flat=True)) == [1, 2, 3,
                                                                                       4]
    assert target.last_message_id == other.pk and tag in target.hashtags.all()
    assert TopicPreference.objects.filter(topic=target, membership=bob, mode="mute").exists()
    [entry] = ActivityEntry.objects.filter(group=group, verb="merge_topics")
    assert (entry.actor, entry.target) == ("alice@example.org", "Boots for sale")
    assert entry.detail == {"into": "Sunday walk", "messages": 1}


def test_merge_bad_input(thread, clients):
    first, *_ = thread
    none = clients["mona"].post(manage(first.topic), {"action": "merge"})
    assert none.status_code == 400 and "Merge into topic" in none.content.decode()
    itself = clients["mona"].post(manage(first.topic), {"action": "merge",
                                                         "merge-target": first.topic_id})
    assert itself.status_code == 400  # not offered, not accepted
    assert Topic.objects.filter(pk=first.topic_id).exists()


def test_split_topic(thread, clients):
    first, second, third, _ = thread
    response = clients["mona"].post(msg_manage(second), {"action": "split",
                                                         "split-subject": "Who is coming"})
    assert response.status_code == 302
    second.refresh_from_db()
    third.refresh_from_db()
    new = second.topic
    assert new.subject == "Who is coming" and new.pk != first.topic_id
    assert third.topic_id == new.pk and new.message_count == 2
    assert new.first_message_id == second.pk and new.last_message_id == third.pk
    old = Topic.objects.get(pk=first.topic_id)
    assert (old.message_count, old.last_message_id) == (1, first.pk)
    assert ActivityEntry.objects.filter(verb="split_topic", target="message #2").exists()


def test_split_without_subject_takes_the_messages_own(thread, clients):
    _, _, third, _ = thread
    clients["mona"].post(msg_manage(third), {"action": "split", "split-subject": ""})
    third.refresh_from_db()
    assert third.topic.subject == "Sunday walk"  # "Re: " dropped


def test_split_at_the_first_message_is_refused(thread, clients):
    first, *_ = thread
    response = clients["mona"].post(msg_manage(first), {"action": "split"})
    assert response.status_code == 400 and "already starts" in response.content.decode()


def test_lock_stick_and_delete_from_the_manage_page(thread, clients):
    first, second, third, other = thread
    url = manage(first.topic)
    clients["mona"].post(url, {"action": "lock", "next": "manage"})
    clients["mona"].post(url, {"action": "stick", "next": "manage"})
    topic = Topic.objects.get(pk=first.topic_id)
    assert topic.locked and topic.sticky
    clients["mona"].post(reverse("mod_message_delete", args=["hikers", third.number]))
    assert Topic.objects.get(pk=first.topic_id).message_count == 2
    clients["mona"].post(url, {"action": "delete"})
    assert not Topic.objects.filter(pk=first.topic_id).exists()
    assert list(ActivityEntry.objects.filter(actor="mona@example.org").order_by("id")
                .values_list("verb", flat=True)) == ["lock_topic", "stick_topic",
                                                     "delete_message", "delete_topic"]
    assert clients["bob"].post(manage(other.topic), {"action": "delete"}).status_code == 404
    assert Topic.objects.filter(pk=other.topic_id).exists()


def _with_raw(message: Message) -> None:
    RawMessage.objects.create(message=message, data=(
        f"From: {message.sender_email}\r\nSubject: {message.subject}\r\n"
        f"Message-ID: {message.message_id}\r\n\r\n{message.body_text}\r\nFrom the hills\r\n"
    ).encode())


def test_mbox_download_all_and_by_dates(thread, clients, tmp_path):
    from django.utils import timezone

    for m in thread:
        _with_raw(m)
    Message.objects.filter(pk=thread[0].pk).update(
        date=timezone.now().replace(year=2020, month=1, day=15))
    url = reverse("mod_archive", args=["hikers"])
    everything = clients["mona"].get(url, {"download": "1"})
    assert everything.status_code == 200 and everything.streaming
    assert everything["Content-Disposition"].startswith('attachment; filename="hikers.mbox"')
    path = tmp_path / "all.mbox"
    path.write_bytes(b"".join(everything.streaming_content))
    box = mailbox.mbox(path)
    assert [m["Subject"] for m in box] == ["Sunday walk", "Re: Sunday walk", "Re: Sunday walk",
                                           "Boots for sale"]
    assert ">From the hills" in box[0].get_payload()  # mboxo quoting, as exportmbox writes
    ranged = clients["mona"].get(url, {"download": "1", "date_from": "2020-01-01",
                                       "date_to": "2020-01-31"})
    path.write_bytes(b"".join(ranged.streaming_content))
    assert [m["Subject"] for m in mailbox.mbox(path)] == ["Sunday walk"]
    assert "from-2020-01-01-to-2020-01-31" in ranged["Content-Disposition"]


@pytest.mark.parametrize("params,says", [
    ({"date_from": "2024-02-01", "date_to": "2024-01-01"}, "before the first"),
    ({"date_from": "yesterday"}, "Enter a valid date"),
])
def test_mbox_bad_range_is_a_form_error(group, clients, params, says):
    response = clients["mona"].get(reverse("mod_archive", args=["hikers"]),
                                   {"download": "1", **params})
    assert response.status_code == 400 and says in response.content.decode()
