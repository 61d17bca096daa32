"""The group tools through the API: events listed, added (by the calendar form's rules) and
answered; polls listed with results as the website shows them, and voted in; files listed.
Keys act exactly as their users on the website."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from groups.models import Event, Group, Poll, PollChoice, StoredFile
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db
SOON = (timezone.now() + timedelta(days=5)).date().isoformat()


def test_events_listed_added_and_answered(api, group):
    made = api["member"].call("POST", "/groups/hikers/events", {
        "title": "Ridge walk", "start_date": SOON, "start_time": "09:00", "end_time": "11:00",
        "time_zone": "Europe/Paris", "rsvp_limit": 1, "rrule": "FREQ=WEEKLY;COUNT=3"})
    assert made.status_code == 201, made.json()
    event = made.json()
    listed = api["outsider"].get("/groups/hikers/events").json()
    assert [e["title"] for e in listed] == ["Ridge walk"] * 3  # every occurrence
    bad = api["member"].call("POST", "/groups/hikers/events", {
        "title": "Backwards", "start_date": SOON, "start_time": "11:00", "end_time": "09:00"})
    assert bad.status_code == 422 and "end_time" in bad.json()["fields"]
    rule = api["member"].call("POST", "/groups/hikers/events", {
        "title": "Odd", "start_date": SOON, "start_time": "09:00", "rrule": "FREQ=SOMETIMES"})
    assert rule.status_code == 422 and "rrule" in rule.json()["fields"]
    yes = api["member"].call("POST", f"/groups/hikers/events/{event['id']}/answer",
                             {"answer": "yes"})
    assert yes.status_code == 200 and yes.json()["answers"] == {"yes": 1}
    full = api["moderator"].call("POST", f"/groups/hikers/events/{event['id']}/answer",
                                 {"answer": "yes"})
    assert full.status_code == 409 and "full" in full.json()["detail"]
    assert api["outsider"].call("POST", f"/groups/hikers/events/{event['id']}/answer",
                                {"answer": "yes"}).status_code == 403
    assert api["readonly"].call("POST", "/groups/hikers/events", {
        "title": "x", "start_date": SOON, "start_time": "09:00"}).status_code == 403
    Group.objects.filter(pk=group.pk).update(calendar_enabled=False)
    assert api["member"].get("/groups/hikers/events").status_code == 404
    assert Event.objects.count() == 1


def test_polls_results_as_on_the_website_and_votes(api, group):
    topic = make_post(group, "[Poll] Where next?").topic
    poll = Poll.objects.create(group=group, topic=topic, question="Where next?",
                               closes_at=timezone.now() + timedelta(days=2))
    for n, text in enumerate(["Ridge", "Lake"], 1):
        PollChoice.objects.create(poll=poll, number=n, text=text)
    before = api["member"].get("/groups/hikers/polls").json()[0]
    assert before["open"] and all(c["votes"] is None for c in before["choices"])
    voted = api["member"].call("POST", f"/groups/hikers/polls/{poll.pk}/vote", {"choices": [2]})
    assert voted.status_code == 200, voted.json()
    assert voted.json()["your_choices"] == [2]
    assert [c["votes"] for c in voted.json()["choices"]] == [0, 1]
    wrong = api["member"].call("POST", f"/groups/hikers/polls/{poll.pk}/vote",
                               {"choices": [1, 2]})
    assert wrong.status_code == 422 and "choices" in wrong.json()["fields"]
    Poll.objects.filter(pk=poll.pk).update(closed_at=timezone.now())
    closed = api["member"].call("POST", f"/groups/hikers/polls/{poll.pk}/vote", {"choices": [1]})
    assert closed.status_code == 409


def test_files_listed_only_to_readers(api, group, other_group):
    row = StoredFile(group=other_group, name="minutes.pdf", size=3)
    row.data.save("minutes.pdf", ContentFile(b"pdf"), save=False)
    row.save()
    assert api["other_owner"].get("/groups/walkers/files").json()[0]["name"] == "minutes.pdf"
    assert api["owner"].get("/groups/walkers/files").status_code == 404  # members-only archive
    assert api["hikers_only"].get("/groups/walkers/files").status_code == 403
