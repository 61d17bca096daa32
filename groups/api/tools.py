"""The group tools through the API: the calendar (list, add, answer), polls (list with
results where the website shows them, vote) and files (list). The rules are the tools' own,
asked in the same places as the pages (groups.calendar, messageserver.polls, the views'
permission checks), so the API can do exactly what the website lets the key's user do."""

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from pydantic import Field

from groups import calendar, links
from groups.api import auth
from groups.api.groups import ERRORS, form_errors
from groups.api.schemas import NO_NUL, Input
from groups.models import Event, EventRSVP, Poll, StoredFile
from groups.web.calendarforms import EventForm
from groups.web.views import calendar as calendar_views
from groups.web.views import files as file_views
from messageserver import polls

router = Router(tags=["group tools"])


def _tool(request: HttpRequest, group_name: str, flag: str):  # noqa: ANN202
    v = auth.reader(request, group_name)
    if not getattr(v.group, flag):
        raise Http404("this tool is switched off in the group")
    return v


class EventOut(Schema):
    id: int
    title: str
    description: str
    location: str
    start: datetime = Field(description="This occurrence's start (UTC).")
    end: datetime
    time_zone: str
    all_day: bool
    rrule: str
    rsvp_limit: int | None
    answers: dict[str, int]
    url: str


def _event_out(occ: calendar.Occurrence, counts: dict[int, dict[str, int]]) -> dict:
    e = occ.event
    return {"id": e.pk, "title": e.title, "description": e.description, "location": e.location,
            "start": occ.start, "end": occ.end, "time_zone": e.time_zone, "all_day": e.all_day,
            "rrule": e.rrule, "rsvp_limit": e.rsvp_limit, "answers": counts.get(e.pk, {}),
            "url": calendar.event_url(e)}


def _counts(event_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for event_id, answer in EventRSVP.objects.filter(event_id__in=event_ids).values_list(
            "event_id", "answer"):
        out.setdefault(event_id, {}).setdefault(answer, 0)
        out[event_id][answer] += 1
    return out


@router.get("/{group_name}/events", response={200: list[EventOut], **ERRORS},
            summary="Upcoming events (each occurrence of a repeating one)")
def list_events(request: HttpRequest, group_name: str, days: int = 120) -> list[dict]:
    v = _tool(request, group_name, "calendar_enabled")
    found = calendar.upcoming(v.group, timezone.now(), days=max(1, min(days, 730)))[:500]
    counts = _counts(list({o.event.pk for o in found}))
    return [_event_out(o, counts) for o in found]


class EventIn(Input):
    title: str = Field(max_length=200, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")
    description: str = Field("", pattern=NO_NUL)
    location: str = Field("", max_length=300, pattern=NO_NUL)
    all_day: bool = False
    start_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    start_time: str = Field("", pattern=r"^(\d{2}:\d{2})?$", description="HH:MM (not all day)")
    end_date: str = Field("", pattern=r"^(\d{4}-\d{2}-\d{2})?$")
    end_time: str = Field("", pattern=r"^(\d{2}:\d{2})?$")
    time_zone: str = Field("UTC", max_length=64, pattern=NO_NUL)
    rrule: str = Field("", max_length=500, pattern=NO_NUL,
                       description="An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TU")
    rsvp_limit: int | None = Field(None, ge=1, le=100000)
    remind_minutes: int | None = Field(None, description="60, 180, 1440, 2880 or 10080")
    announce: bool = Field(False, description="Post it to the group now (with its .ics).")


@router.post("/{group_name}/events", response={201: EventOut, **ERRORS},
             summary="Add an event (as on the calendar page)")
def add_event(request: HttpRequest, group_name: str, body: EventIn) -> Status:
    auth.require_write(request)
    v = _tool(request, group_name, "calendar_enabled")
    if not calendar_views.may_add(v):
        raise PermissionDenied("This key's user may not add events to this group.")
    data = body.dict()
    data["remind"] = "" if data.pop("remind_minutes") is None else str(body.remind_minutes)
    form = EventForm({name: ("on" if value is True else value) for name, value in data.items()
                      if value is not False and value is not None})
    if not form.is_valid():
        raise form_errors(form)
    event = calendar_views.save_event(v, form, None, request.user)
    if body.announce:
        calendar.announce(event)
    occ = calendar.next_occurrence(event, timezone.now()) or calendar.Occurrence(
        event, event.start, event.end)
    return Status(201, _event_out(occ, {}))


class Answer(Input):
    answer: str = Field(pattern="^(yes|maybe|no)$")


@router.post("/{group_name}/events/{event_id}/answer", response={200: EventOut, **ERRORS},
             summary="Answer an event: yes, maybe or no")
def answer_event(request: HttpRequest, group_name: str, event_id: int, body: Answer) -> dict:
    auth.require_write(request)
    v = _tool(request, group_name, "calendar_enabled")
    if not v.is_member:
        raise PermissionDenied("Only members answer events.")
    event = get_object_or_404(Event, group=v.group, pk=event_id)
    refusal = calendar_views.answer(event, request.user, body.answer)
    if refusal:
        raise HttpError(409, str(refusal))
    occ = calendar.next_occurrence(event, timezone.now()) or calendar.Occurrence(
        event, event.start, event.end)
    return _event_out(occ, _counts([event.pk]))


class ChoiceOut(Schema):
    number: int
    text: str
    votes: int | None = Field(None, description="Shown once you voted, or the poll closed.")
    voters: list[str] = Field(default_factory=list)


class PollOut(Schema):
    id: int
    question: str
    multiple: bool
    anonymous: bool
    closes_at: datetime
    open: bool
    topic_id: int
    your_choices: list[int]
    choices: list[ChoiceOut]


def _poll_out(poll: Poll, v) -> dict:  # noqa: ANN001
    now = timezone.now()
    membership = v.membership if v.is_member else None
    mine = sorted(poll.votes.filter(membership=membership).values_list(
        "choice__number", flat=True)) if membership else []
    is_open = polls.is_open(poll, now)
    show = bool(mine) or not is_open or v.is_moderator
    results = {r.number: r for r in polls.results(poll)[0]} if show else {}
    return {"id": poll.pk, "question": poll.question, "multiple": poll.multiple,
            "anonymous": poll.anonymous, "closes_at": poll.closes_at, "open": is_open,
            "topic_id": poll.topic_id, "your_choices": mine,
            "choices": [{"number": c.number, "text": c.text,
                         "votes": results[c.number].votes if show else None,
                         "voters": results[c.number].voters if show else []}
                        for c in poll.choices.all()]}


@router.get("/{group_name}/polls", response={200: list[PollOut], **ERRORS},
            summary="The group's polls, newest first")
def list_polls(request: HttpRequest, group_name: str) -> list[dict]:
    v = _tool(request, group_name, "polls_enabled")
    rows = Poll.objects.filter(group=v.group, topic__isnull=False).order_by("-created_at")[:100]
    return [_poll_out(p, v) for p in rows]


class VoteIn(Input):
    choices: list[int] = Field(min_length=1, max_length=20,
                               description="The chosen numbers (one, unless several are allowed)")


@router.post("/{group_name}/polls/{poll_id}/vote", response={200: PollOut, **ERRORS},
             summary="Vote (or change your vote) in a poll")
def vote(request: HttpRequest, group_name: str, poll_id: int, body: VoteIn) -> dict:
    auth.require_write(request)
    v = _tool(request, group_name, "polls_enabled")
    if not v.is_member:
        raise PermissionDenied("Only members vote.")
    poll = get_object_or_404(Poll, group=v.group, pk=poll_id, topic__isnull=False)
    try:
        polls.vote(poll, v.membership, body.choices, timezone.now())
    except polls.VoteError as exc:
        if not polls.is_open(poll, timezone.now()):
            raise HttpError(409, str(exc)) from None
        raise ValidationError([{"loc": ["body", "choices"], "msg": str(exc)}]) from None
    return _poll_out(poll, v)


class FileOut(Schema):
    id: int
    name: str
    folder: str
    size: int
    content_type: str
    description: str
    uploaded_at: datetime
    url: str


@router.get("/{group_name}/files", response={200: list[FileOut], **ERRORS},
            summary="The group's files (every folder)")
def list_files(request: HttpRequest, group_name: str) -> list[dict]:
    v = _tool(request, group_name, "files_enabled")
    rows = StoredFile.objects.filter(group=v.group).select_related("folder", "group").order_by(
        "folder__name", "name")[:2000]
    return [{"id": f.pk, "name": f.name, "folder": f.folder.name if f.folder else "",
             "size": f.size, "content_type": f.content_type, "description": f.description,
             "uploaded_at": f.uploaded_at, "url": links.absolute(file_views.file_url(f))}
            for f in rows]
