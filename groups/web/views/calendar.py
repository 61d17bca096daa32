"""A group's calendar on the website: upcoming events, one event with its answers, adding,
changing and removing events, and the iCalendar files and feeds.

Who sees it is who reads the archive (groups.web.access); who adds events is the group's
``calendar_events_by`` setting; an event is changed by its author or a moderator.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import activitylog, calendar, links
from groups.models import Event, EventRSVP, Group
from groups.web import access
from groups.web.calendarforms import EventForm, RSVPForm
from messageserver.client import MessageServerError, MessageServerUnavailable


def _reader(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.reader(request, group_name)
    if not v.group.calendar_enabled:
        raise Http404("this group has no calendar")
    return v


def may_add(v: access.Viewer) -> bool:
    if v.group.calendar_events_by == "moderators":
        return v.is_moderator
    return v.is_member or v.is_site_admin


def may_change(v: access.Viewer, event: Event, user) -> bool:  # noqa: ANN001
    return v.is_moderator or (v.is_member and event.created_by_id == user.pk)


def calendar_page(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _reader(request, group_name)
    now = timezone.now()
    feed = None
    if v.group.archive_is_public:
        feed = links.absolute(f"/g/{v.group.name}/calendar.ics")
    elif v.is_member and request.user.is_authenticated:
        feed = links.absolute(f"/g/{v.group.name}/calendar/feed/"
                              f"{calendar.feed_token(request.user, v.group)}.ics")
    return render(request, "groups/calendar.html", {
        "v": v, "group": v.group, "upcoming": calendar.upcoming(v.group, now)[:100],
        "may_add": may_add(v), "feed": feed})


def save_event(v: access.Viewer, form: EventForm, event: Event | None, user) -> Event:  # noqa: ANN001
    data = form.cleaned_data
    fields = {"title": data["title"], "description": data["description"],
              "location": data["location"], "start": data["start"], "end": data["end"],
              "time_zone": data["time_zone"], "all_day": data["all_day"],
              "rrule": data["rrule"], "rsvp_limit": data["rsvp_limit"],
              "remind_minutes": data["remind"], "updated_at": timezone.now()}
    with transaction.atomic():
        if event is None:
            event = Event.objects.create(group=v.group, created_by=user, **fields)
            verb = "event_added"
        else:
            for name, value in fields.items():
                setattr(event, name, value)
            event.sequence += 1
            event.reminded_for = None
            event.save()
            verb = "event_changed"
        activitylog.record(v.group, actor=user.email, verb=verb, target=event.title,
                           detail={"start": event.start.isoformat()})
    return event


def _announce(request: HttpRequest, event: Event) -> None:
    try:
        result = calendar.announce(event)
    except MessageServerUnavailable:
        flash.error(request, _("The event is saved, but the message server can't be reached "
                               "to announce it; try “Announce” again in a minute."))
        return
    except MessageServerError as exc:
        flash.error(request, _("The event is saved, but its announcement was refused: "
                               "%(reason)s") % {"reason": exc.body.get("reason") or exc})
        return
    if result.get("outcome") == "held":
        flash.info(request, _("The announcement waits for a moderator's approval."))
    else:
        flash.success(request, _("The event is announced to the group."))


@login_required
def event_new(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _reader(request, group_name)
    if not may_add(v):
        raise Http404("you may not add events here")
    form = EventForm(request.POST or None, initial={
        "time_zone": getattr(request.user, "time_zone", "UTC") or "UTC", "announce": True})
    if request.method == "POST" and form.is_valid():
        event = save_event(v, form, None, request.user)
        flash.success(request, _("The event is on the calendar."))
        if form.cleaned_data["announce"]:
            _announce(request, event)
        return redirect("event", v.group.name, event.pk)
    return render(request, "groups/event_form.html", {"v": v, "group": v.group, "form": form,
                                                      "event": None},
                  status=400 if form.is_bound else 200)


def _event(v: access.Viewer, event_id: int) -> Event:
    return get_object_or_404(Event.objects.select_related("created_by"), group=v.group,
                             pk=event_id)


@login_required
def event_edit(request: HttpRequest, group_name: str, event_id: int) -> HttpResponse:
    v = _reader(request, group_name)
    event = _event(v, event_id)
    if not may_change(v, event, request.user):
        raise Http404("only its author or a moderator changes an event")
    if request.method == "POST" and request.POST.get("delete"):
        with transaction.atomic():
            activitylog.record(v.group, actor=request.user.email, verb="event_removed",
                               target=event.title)
            event.delete()
        flash.success(request, _("The event is removed from the calendar."))
        return redirect("calendar", v.group.name)
    form = EventForm(request.POST or None, initial=EventForm.initial_for(event))
    if request.method == "POST" and form.is_valid():
        save_event(v, form, event, request.user)
        flash.success(request, _("The event is saved."))
        if form.cleaned_data["announce"]:
            _announce(request, event)
        return redirect("event", v.group.name, event.pk)
    return render(request, "groups/event_form.html", {"v": v, "group": v.group, "form": form,
                                                      "event": event},
                  status=400 if form.is_bound else 200)


def event_detail(request: HttpRequest, group_name: str, event_id: int) -> HttpResponse:
    v = _reader(request, group_name)
    event = _event(v, event_id)
    now = timezone.now()
    mine = None
    if request.user.is_authenticated:
        mine = EventRSVP.objects.filter(event=event, user=request.user).first()
    form = RSVPForm(request.POST or None, initial={"answer": mine.answer if mine else None})
    status = 200
    if request.method == "POST":
        if not v.is_member:
            raise Http404("only members answer")
        if form.is_valid():
            problem = answer(event, request.user, form.cleaned_data["answer"])
            if not problem:
                flash.success(request, _("Your answer is saved."))
                return redirect("event", v.group.name, event.pk)
            form.add_error("answer", problem)
        status = 400
    counts = dict(EventRSVP.objects.filter(event=event).values_list("answer").annotate(
        n=Count("pk")).values_list("answer", "n"))
    going = EventRSVP.objects.filter(event=event, answer="yes").select_related("user")
    return render(request, "groups/event.html", {
        "v": v, "group": v.group, "event": event, "form": form, "mine": mine,
        "counts": counts, "going": going, "may_change": request.user.is_authenticated
        and may_change(v, event, request.user),
        "next": calendar.occurrences(event, now, now + timedelta(days=400))[:5],
        "zone": calendar.zone(event)}, status=status)


def answer(event: Event, user, value: str) -> str:  # noqa: ANN001
    """Save a member's answer; the refusal when a limited event is full ("" when saved)."""
    with transaction.atomic():
        # Lock the event row: two last-place answers at once must not both fit.
        Event.objects.select_for_update().filter(pk=event.pk).first()
        if value == "yes" and event.rsvp_limit is not None:
            taken = EventRSVP.objects.filter(event=event, answer="yes").exclude(
                user=user).count()
            if taken >= event.rsvp_limit:
                return _("The event is full (%(limit)s places); answer “maybe” to be told "
                         "if one frees up.") % {"limit": event.rsvp_limit}
        EventRSVP.objects.update_or_create(event=event, user=user,
                                           defaults={"answer": value, "at": timezone.now()})
    return ""


def _ics_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def event_ics(request: HttpRequest, group_name: str, event_id: int) -> HttpResponse:
    v = _reader(request, group_name)
    event = _event(v, event_id)
    return _ics_response(calendar.ics([event], v.group.display_title), f"event-{event.pk}.ics")


def _group_ics(group: Group) -> HttpResponse:
    events = list(Event.objects.filter(group=group).filter(
        Q(rrule__gt="") | Q(end__gte=timezone.now() - timedelta(days=365))))
    return _ics_response(calendar.ics(events, group.display_title), f"{group.name}.ics")


def public_feed(request: HttpRequest, group_name: str) -> HttpResponse:
    """The calendar of a group with a public archive, for anyone's calendar app."""
    group = Group.objects.filter(name=group_name, calendar_enabled=True).first()
    if group is None or not group.archive_is_public:
        raise Http404("no public calendar here")
    return _group_ics(group)


def private_feed(request: HttpRequest, group_name: str, token: str) -> HttpResponse:
    """A member's own secret feed URL for a group whose archive is for members."""
    group = Group.objects.filter(name=group_name, calendar_enabled=True).first()
    if group is None or calendar.feed_user(token, group) is None:
        raise Http404("no such feed")
    return _group_ics(group)
