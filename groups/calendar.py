"""A group's calendar: repeating events, their occurrences, iCalendar files and feeds, and
the announcement and reminder each event sends to the group.

Occurrences are computed in the event's own time zone (dateutil's rrule on local
times, then converted), so "every Tuesday at 18:00 Europe/Paris" stays at 18:00 in
Paris after the clocks change. iCalendar output is built with the icalendar library,
with the VTIMEZONE each event needs, which Thunderbird, Google and Apple Calendar
import. Announcements and reminders are posts to the group through messageserver
(``/v1/posts``, the same rules as any post) with the event's ``.ics`` attached.
"""

from __future__ import annotations

import base64
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.rrule import rrulestr
from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, vRecur
from icalendar import Event as VEvent

from groups import links, tokens
from groups.models import Event, Group, Membership, User

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_OCCURRENCES = 500  # one listing never expands more than this many of one event
FEED_PURPOSE = "calendar-feed"  # a member's secret feed URL: user id, group id


class RuleError(ValueError):
    """An RRULE we can't use; the message says why, for the form."""


def check_rrule(text: str, start: datetime | None = None) -> str:
    """The rule, normalised (upper case, no "RRULE:"), or RuleError."""
    rule = text.strip().upper().removeprefix("RRULE:")
    if not rule:
        return ""
    try:
        recur = vRecur.from_ical(rule)
        rrulestr(rule, dtstart=(start or timezone.now()).replace(tzinfo=None))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise RuleError(f"This repeat rule doesn't parse ({exc}); write e.g. "
                        "FREQ=WEEKLY;BYDAY=TU or FREQ=MONTHLY;BYMONTHDAY=1.") from None
    freq = (recur.get("FREQ") or [""])[0]
    if freq not in FREQUENCIES:
        raise RuleError("Events repeat daily, weekly, monthly or yearly (FREQ=DAILY, "
                        "WEEKLY, MONTHLY or YEARLY).")
    return rule


@dataclass(frozen=True)
class Occurrence:
    event: Event
    start: datetime  # aware, UTC
    end: datetime

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(zone(self.event))


def zone(event: Event) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(event.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def occurrences(event: Event, after: datetime, before: datetime) -> list[Occurrence]:
    """The event's occurrences that end after ``after`` and start before ``before``."""
    length = event.end - event.start
    if not event.rrule:
        if event.end > after and event.start < before:
            return [Occurrence(event, event.start, event.end)]
        return []
    tz = zone(event)
    first = event.start.astimezone(tz).replace(tzinfo=None)
    rule = rrulestr(event.rrule, dtstart=first)
    lo = (after - length).astimezone(tz).replace(tzinfo=None)
    hi = before.astimezone(tz).replace(tzinfo=None)
    found = []
    for local in rule.xafter(lo, count=MAX_OCCURRENCES, inc=True):
        if local >= hi:
            break
        start = local.replace(tzinfo=tz).astimezone(zoneinfo.ZoneInfo("UTC"))
        if start + length > after:
            found.append(Occurrence(event, start, start + length))
    return found


def next_occurrence(event: Event, now: datetime) -> Occurrence | None:
    """The first occurrence that hasn't started yet."""
    for occ in occurrences(event, now, now + timedelta(days=3660)):
        if occ.start >= now:
            return occ
    return None


def upcoming(group: Group, now: datetime, days: int = 120) -> list[Occurrence]:
    """Every occurrence of the group's events in the next ``days``, in order."""
    until = now + timedelta(days=days)
    found: list[Occurrence] = []
    for event in Event.objects.filter(group=group, start__lt=until).exclude(
            rrule="", end__lt=now):
        found += occurrences(event, now, until)
    return sorted(found, key=lambda o: (o.start, o.event.pk))


# --- iCalendar ----------------------------------------------------------------------

def uid(event: Event) -> str:
    return f"event-{event.pk}@{settings.GROUPS_DOMAIN}"


def event_url(event: Event) -> str:
    from django.urls import reverse

    return links.absolute(reverse("event", urlconf=links.WEB, args=[event.group.name,
                                                                      event.pk]))


def vevent(event: Event) -> VEvent:
    tz = zone(event)
    item = VEvent()
    item.add("uid", uid(event))
    item.add("dtstamp", event.updated_at)
    item.add("summary", event.title)
    if event.all_day:
        first = event.start.astimezone(tz).date()
        last = event.end.astimezone(tz).date()
        item.add("dtstart", first)
        item.add("dtend", last + timedelta(days=1))  # DTEND of a date is exclusive
    else:
        item.add("dtstart", event.start.astimezone(tz))
        item.add("dtend", event.end.astimezone(tz))
    if event.description:
        item.add("description", event.description)
    if event.location:
        item.add("location", event.location)
    if event.rrule:
        item.add("rrule", vRecur.from_ical(event.rrule))
    item.add("url", event_url(event))
    item.add("sequence", event.sequence)
    return item


def ics(events: list[Event], name: str, *, method: str = "PUBLISH") -> bytes:
    """An iCalendar file of ``events`` with their time zones."""
    cal = Calendar()
    cal.add("prodid", f"-//{settings.GROUPS_DOMAIN}//Groups calendar//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(vevent(event))
    cal.add_missing_timezones()
    return cal.to_ical()


def feed_token(user: User, group: Group) -> str:
    return tokens.make(FEED_PURPOSE, user.pk, group.pk)


def feed_user(token: str, group: Group) -> User | None:
    """The member a private feed's token was made for, if they are still a member."""
    try:
        user_id, group_id = tokens.check(FEED_PURPOSE, token)
    except tokens.BadToken:
        return None
    if str(group.pk) != group_id:
        return None
    return User.objects.filter(
        pk=user_id, memberships__group=group,
        memberships__status=Membership.Status.ACTIVE).first()


# --- mail to the group --------------------------------------------------------------

def _when(occ: Occurrence) -> str:
    local = occ.local_start
    if occ.event.all_day:
        return local.strftime("%A %d %B %Y") + " (all day)"
    end = occ.end.astimezone(zone(occ.event))
    return (f"{local.strftime('%A %d %B %Y, %H:%M')}–{end.strftime('%H:%M')} "
            f"({occ.event.time_zone})")


def _text(event: Event, occ: Occurrence, heading: str) -> str:
    lines = [heading, "", event.title, _when(occ)]
    if event.rrule:
        lines.append(f"Repeats: {event.rrule}")
    if event.location:
        lines.append(f"Where: {event.location}")
    if event.description:
        lines += ["", event.description]
    lines += ["", f"Details and replies (yes / no / maybe): {event_url(event)}",
              "The attached invitation.ics adds it to your calendar."]
    return "\n".join(lines) + "\n"


def poster(event: Event) -> str:
    """Who the event's mail is from: its creator while a member, else an owner."""
    rows = Membership.objects.filter(group=event.group, status=Membership.Status.ACTIVE)
    mine = rows.filter(user_id=event.created_by_id).values_list("email", flat=True).first()
    return mine or rows.filter(role=Membership.Role.OWNER).values_list(
        "email", flat=True).first() or ""


def _post(event: Event, subject: str, text: str) -> dict:
    from messageserver.client import MessageServerClient

    attachment = {"filename": "invitation.ics", "content_type": "text/calendar",
                  "data_b64": base64.b64encode(ics([event], event.group.display_title))
                  .decode("ascii")}
    return MessageServerClient().post(event.group.name, poster(event), subject, text,
                                      attachments=[attachment])


def announce(event: Event, now: datetime | None = None) -> dict:
    """Post the event to the group (with its .ics); remember the message's number."""
    now = now or timezone.now()
    occ = next_occurrence(event, now) or Occurrence(event, event.start, event.end)
    result = _post(event, f"New event: {event.title}", _text(event, occ, "A new event:"))
    if result.get("number"):
        Event.objects.filter(pk=event.pk).update(announced_number=result["number"])
    return result


def reminders_due(now: datetime) -> list[Occurrence]:
    """Occurrences whose reminder time has come and whose reminder hasn't been sent."""
    due = []
    horizon = now + timedelta(days=60)
    for event in Event.objects.filter(remind_minutes__isnull=False, group__calendar_enabled=True
                                      ).select_related("group"):
        occ = next_occurrence(event, now)
        if occ is None or occ.start > horizon:
            continue
        if occ.start - timedelta(minutes=event.remind_minutes) <= now and (
                event.reminded_for != occ.start):
            due.append(occ)
    return due


def send_reminders(now: datetime) -> str:
    """Post each due reminder once (the mark is taken before the post: never twice)."""
    sent = 0
    for occ in reminders_due(now):
        event = occ.event
        if not Event.objects.filter(pk=event.pk).exclude(reminded_for=occ.start).update(
                reminded_for=occ.start):
            continue  # another run took it
        try:
            _post(event, f"Reminder: {event.title}", _text(event, occ, "Coming up:"))
        except Exception:
            Event.objects.filter(pk=event.pk).update(reminded_for=event.reminded_for)
            raise
        sent += 1
    return f"{sent} event reminder{'s' if sent != 1 else ''} sent"
