"""The group calendar: events added on the website (and the form's refusals), repeating
events in their own time zone, answers with a limit, the .ics files and feeds parsed back
with the icalendar library, privacy, and the announcement and reminder posted to the group
through the real messageserver with a valid .ics attached."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from groups import calendar
from groups.models import Event, EventRSVP, Group, Membership, Message, RawMessage

FORM = {"title": "Ridge walk", "description": "Bring water.", "location": "The old oak",
        "start_date": "2030-03-05", "start_time": "18:00", "end_time": "20:30",
        "time_zone": "Europe/Paris", "rrule": "", "remind": "", "announce": ""}


def add(client, **changes):  # noqa: ANN201
    return client.post(reverse("event_new", args=["hikers"]), {**FORM, **changes})


@pytest.mark.django_db
def test_a_member_adds_an_event_and_the_form_refuses_bad_input(group, clients):
    done = add(clients["bob"])
    assert done.status_code == 302, done.content.decode()[:2000]
    event = Event.objects.get()
    assert event.start == datetime(2030, 3, 5, 17, 0, tzinfo=UTC)  # 18:00 in Paris (CET)
    assert event.end == datetime(2030, 3, 5, 19, 30, tzinfo=UTC)
    page = clients["anon"].get(reverse("event", args=["hikers", event.pk])).content.decode()
    assert "Ridge walk" in page and "The old oak" in page
    bad = add(clients["bob"], end_time="17:00").content.decode()
    assert "The event must end after it starts." in bad
    bad = add(clients["bob"], rrule="FREQ=SOMETIMES").content.decode()
    assert "doesn" in bad and "parse" in bad
    bad = add(clients["bob"], rrule="FREQ=MINUTELY").content.decode()
    assert "daily, weekly, monthly or yearly" in bad
    bad = add(clients["bob"], start_time="").content.decode()
    assert "Give a start time" in bad
    assert Event.objects.count() == 1
    assert add(clients["charlie"]).status_code == 404  # not a member
    Group.objects.filter(pk=group.pk).update(calendar_events_by="moderators")
    assert add(clients["bob"]).status_code == 404
    assert add(clients["mona"]).status_code == 302


@pytest.mark.django_db
def test_repeats_keep_their_local_time_across_the_clock_change(group):
    event = Event.objects.create(
        group=group, title="Weekly meet", time_zone="Europe/Paris",
        start=datetime(2030, 3, 19, 17, 0, tzinfo=UTC), end=datetime(2030, 3, 19, 18, 0,
                                                                      tzinfo=UTC),
        rrule=calendar.check_rrule("freq=weekly;count=4"))
    found = calendar.occurrences(event, datetime(2030, 1, 1, tzinfo=UTC),
                                 datetime(2031, 1, 1, tzinfo=UTC))
    assert [o.local_start.strftime("%d %H:%M") for o in found] == [
        "19 18:00", "26 18:00", "02 18:00", "09 18:00"]
    assert found[2].start.hour == 16  # after the change to summer time: 18:00 is 16:00 UTC


@pytest.mark.django_db
def test_answers_and_the_limit(group, clients, people):
    event = Event.objects.create(group=group, title="Dinner", rsvp_limit=1,
                                 start=timezone.now() + timedelta(days=3),
                                 end=timezone.now() + timedelta(days=3, hours=2))
    url = reverse("event", args=["hikers", event.pk])
    assert clients["bob"].post(url, {"answer": "yes"}).status_code == 302
    full = clients["mona"].post(url, {"answer": "yes"})
    assert full.status_code == 400 and "The event is full" in full.content.decode()
    assert clients["mona"].post(url, {"answer": "maybe"}).status_code == 302
    assert clients["bob"].post(url, {"answer": "yes"}).status_code == 302  # changing is fine
    assert clients["charlie"].post(url, {"answer": "yes"}).status_code == 404
    assert dict(EventRSVP.objects.values_list("user__username", "answer")) == {
        "bob": "yes", "mona": "maybe"}
    page = clients["anon"].get(url).content.decode()
    assert "1 yes, 1 maybe, 0 no" in page


@pytest.mark.django_db
def test_feeds_parse_back_and_private_groups_stay_private(group, clients, people):
    add(clients["bob"], rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=10")
    feed = clients["anon"].get(reverse("calendar_feed", args=["hikers"]))
    assert feed["Content-Type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(feed.content)
    [vevent] = cal.walk("VEVENT")
    assert str(vevent["summary"]) == "Ridge walk"
    assert vevent["rrule"]["FREQ"] == ["WEEKLY"] and vevent["rrule"]["COUNT"] == [10]
    assert vevent.decoded("dtstart").tzinfo is not None
    assert str(vevent["dtstart"].params["TZID"]) == "Europe/Paris"
    assert cal.walk("VTIMEZONE")  # the zone travels with it
    event = Event.objects.get()
    Group.objects.filter(pk=group.pk).update(privacy=Group.Privacy.PRIVATE_ARCHIVE)
    for who in ("anon", "charlie"):
        for url in (reverse("calendar", args=["hikers"]), reverse("event", args=["hikers",
                                                                                   event.pk]),
                    reverse("event_ics", args=["hikers", event.pk]),
                    reverse("calendar_feed", args=["hikers"])):
            assert clients[who].get(url).status_code in (302, 404), (who, url)
    page = clients["bob"].get(reverse("calendar", args=["hikers"])).content.decode()
    secret = page.split('id="calendar-feed" type="text" readonly value="', 1)[1].split('"')[0]
    path = urlsplit(secret).path
    mine = clients["anon"].get(path)  # a calendar app holds no session
    assert mine.status_code == 200 and b"Ridge walk" in mine.content
    Membership.objects.filter(user=people["bob"]).update(status=Membership.Status.REMOVED)
    assert clients["anon"].get(path).status_code == 404  # a former member's feed stops
    assert clients["anon"].get(path.replace(".ics", "0.ics")).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_announcement_and_reminder_reach_the_group_with_an_ics(messageserver, group, clients,
                                                               settings, tmp_path):
    settings.ATTACHMENTS_DIR = tmp_path
    start = (timezone.now() + timedelta(days=2)).astimezone(UTC)
    done = add(clients["bob"], announce="on", remind="1440", time_zone="UTC",
               start_date=start.date().isoformat(), start_time="10:00", end_time="11:00")
    assert done.status_code == 302, done.content.decode()[:1500]
    event = Event.objects.get()
    announcement = Message.objects.get(subject="New event: Ridge walk")
    assert announcement.sender_email == "bob@example.org"
    assert event.announced_number == announcement.number
    mail = email.message_from_bytes(bytes(RawMessage.objects.get(message=announcement).data))
    [part] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    assert str(cal.walk("VEVENT")[0]["uid"]) == calendar.uid(event)
    assert calendar.send_reminders(event.start - timedelta(days=2)) == "0 event reminders sent"
    at = event.start - timedelta(hours=23)
    assert calendar.send_reminders(at) == "1 event reminder sent"
    assert calendar.send_reminders(at + timedelta(minutes=5)) == "0 event reminders sent"
    reminder = Message.objects.get(subject="Reminder: Ridge walk")
    assert "Coming up:" in reminder.body_text
