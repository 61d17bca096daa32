"""Reading, searching and posting through the API. Posts go through the real messageserver
over HTTP (the same rules as mail and the web form); held posts are decided through it."""

from __future__ import annotations

import pytest
from django.urls import reverse

import search
from groups.models import Group, HeldMessage, Message
from tests.groups.web.conftest import make_post


@pytest.mark.django_db
def test_topics_pages_and_a_topic_with_its_messages(api, group):
    first = make_post(group, "Ridge walk", "Meet at nine.", minutes_ago=90)
    make_post(group, "Re: Ridge walk", "Count me in.", topic=first.topic, minutes_ago=80)
    for i in range(5):
        make_post(group, f"Topic {i}", "Text.", minutes_ago=70 - i)
    page = api["member"].get("/groups/hikers/topics?page_size=3").json()
    assert [t["subject"] for t in page["results"]] == ["Topic 4", "Topic 3", "Topic 2"]
    rest = api["member"].get(page["next"].split("/api/v1", 1)[1]).json()
    assert [t["subject"] for t in rest["results"]] == ["Topic 1", "Topic 0", "Ridge walk"]
    topic = api["member"].get(f"/groups/hikers/topics/{first.topic_id}").json()
    assert [m["body_text"] for m in topic["messages"]] == ["Meet at nine.", "Count me in."]
    assert topic["url"].endswith(reverse("topic", args=["hikers", first.topic_id]))
    one = api["outsider"].get(f"/groups/hikers/messages/{first.number}").json()
    assert one["subject"] == "Ridge walk" and one["sender_name"] == "Bob"
    assert "sender_email" not in one  # addresses stay with moderators, as on the website
    Message.objects.filter(pk=first.pk).update(deleted=True)
    assert api["owner"].get(f"/groups/hikers/messages/{first.number}").status_code == 404


@pytest.mark.django_db
def test_search_shows_group_titles_and_only_what_the_key_may_read(api, group, other_group):
    search.index(make_post(group, "Ridge walk", "A walk along the ridge."))
    search.index(make_post(other_group, "Quarry walk", "A secret walk.",
                           sender="dora@example.org"))
    found = api["outsider"].get("/search?q=walk").json()
    assert [(h["group_title"], h["subject"]) for h in found["results"]] == [
        ("Hikers", "Ridge walk")]
    assert found["total"] == 1
    both = api["other_owner"].get("/search?q=walk").json()
    assert {h["group"] for h in both["results"]} == {"hikers", "walkers"}
    only = api["hikers_only"].get("/search?q=walk").json()
    assert {h["group"] for h in only["results"]} == {"hikers"}
    empty = api["member"].get("/search")
    assert empty.status_code == 200 and empty.json()["total"] == 0
    bad_page = api["member"].get("/search?q=walk&page=0")
    assert bad_page.status_code == 422 and "page" in bad_page.json()["fields"]


@pytest.mark.django_db(transaction=True)
def test_post_a_topic_and_a_reply_through_messageserver(messageserver, api, group):
    made = api["member"].call("POST", "/groups/hikers/topics",
                              {"subject": "From a script", "body": "Posted by the API."})
    assert made.status_code == 201, made.json()
    msg = Message.objects.get(number=made.json()["number"], group=group)
    assert msg.source == "web" and msg.sender_email == "bob@example.org"
    reply = api["owner"].call("POST", f"/groups/hikers/messages/{msg.number}/replies",
                              {"body": "And answered by one."})
    assert reply.status_code == 201, reply.json()
    answer = Message.objects.get(number=reply.json()["number"], group=group)
    assert answer.topic_id == msg.topic_id and answer.subject == "Re: From a script"
    empty = api["member"].call("POST", "/groups/hikers/topics", {"subject": "", "body": "x"})
    assert empty.status_code == 422 and "subject" in empty.json()["fields"]


@pytest.mark.django_db(transaction=True)
def test_held_post_is_listed_and_approved_by_a_moderator_key(messageserver, api, group):
    Group.objects.filter(pk=group.pk).update(posting_policy=Group.PostingPolicy.MODERATED)
    held = api["member"].call("POST", "/groups/hikers/topics",
                              {"subject": "Please approve", "body": "Held text"})
    assert held.status_code == 202 and held.json()["outcome"] == "held"
    queue = api["moderator"].get("/groups/hikers/held").json()["results"]
    assert [h["subject"] for h in queue] == ["Please approve"]
    decided = api["moderator"].call("POST", f"/groups/hikers/held/{queue[0]['id']}",
                                    {"action": "approve"})
    assert decided.status_code == 200, decided.json()
    assert HeldMessage.objects.get(pk=queue[0]["id"]).decided_by == "mona@example.org"
    assert Message.objects.filter(subject="Please approve").count() == 1
    again = api["moderator"].call("POST", f"/groups/hikers/held/{queue[0]['id']}",
                                  {"action": "reject"})
    assert again.status_code == 409
    bad = api["moderator"].call("POST", f"/groups/hikers/held/{queue[0]['id']}",
                                {"action": "shrug"})
    assert bad.status_code == 422 and "action" in bad.json()["fields"]
