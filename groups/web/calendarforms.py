"""The calendar's forms: an event (with its repeat rule and reminder), an answer."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from groups import calendar
from groups.models import Event, EventRSVP
from groups.web.forms import TIME_ZONES

REMINDERS = [("", _("No reminder")), ("60", _("1 hour before")), ("180", _("3 hours before")),
             ("1440", _("1 day before")), ("2880", _("2 days before")),
             ("10080", _("1 week before"))]


class EventForm(forms.Form):
    title = forms.CharField(max_length=200, label=_("Title"))
    description = forms.CharField(required=False, label=_("Description"),
                                  widget=forms.Textarea(attrs={"rows": 5}))
    location = forms.CharField(required=False, max_length=300, label=_("Location"))
    all_day = forms.BooleanField(required=False, label=_("All day"))
    start_date = forms.DateField(label=_("Start date"),
                                 widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(required=False, label=_("Start time"),
                                 widget=forms.TimeInput(attrs={"type": "time"}))
    end_date = forms.DateField(required=False, label=_("End date"),
                               help_text=_("Empty: the same day."),
                               widget=forms.DateInput(attrs={"type": "date"}))
    end_time = forms.TimeField(required=False, label=_("End time"),
                               widget=forms.TimeInput(attrs={"type": "time"}))
    time_zone = forms.ChoiceField(choices=[(z, z) for z in TIME_ZONES], label=_("Time zone"))
    rrule = forms.CharField(
        required=False, max_length=500, label=_("Repeats (RRULE)"),
        help_text=_("Empty for a single event; e.g. FREQ=WEEKLY;BYDAY=TU for every Tuesday, "
                    "FREQ=MONTHLY;BYMONTHDAY=1;COUNT=6 for six months."))
    rsvp_limit = forms.IntegerField(required=False, min_value=1, label=_("Places (RSVP limit)"),
                                    help_text=_("Empty: no limit on “yes” answers."))
    remind = forms.TypedChoiceField(choices=REMINDERS, required=False, coerce=int,
                                    empty_value=None, label=_("Reminder to the group"))
    announce = forms.BooleanField(required=False, initial=True,
                                  label=_("Announce it to the group now"))

    def clean(self):  # noqa: ANN201
        data = super().clean()
        if self.errors:
            return data
        tz = zoneinfo.ZoneInfo(data["time_zone"])
        first, last = data["start_date"], data.get("end_date") or data["start_date"]
        if data.get("all_day"):
            start = datetime.combine(first, time.min, tz)
            end = datetime.combine(last, time(23, 59), tz)
        else:
            if data.get("start_time") is None:
                self.add_error("start_time", _("Give a start time, or tick “All day”."))
                return data
            start = datetime.combine(first, data["start_time"], tz)
            end_time = data.get("end_time") or (start + timedelta(hours=1)).time()
            end = datetime.combine(last, end_time, tz)
        if end < start or (end == start and not data.get("all_day")):
            self.add_error("end_time" if last == first else "end_date",
                           _("The event must end after it starts."))
            return data
        try:
            data["rrule"] = calendar.check_rrule(data.get("rrule") or "", start)
        except calendar.RuleError as exc:
            self.add_error("rrule", str(exc))
        data["start"], data["end"] = start, end
        return data

    @classmethod
    def initial_for(cls, event: Event) -> dict:
        tz = calendar.zone(event)
        start, end = event.start.astimezone(tz), event.end.astimezone(tz)
        return {"title": event.title, "description": event.description,
                "location": event.location, "all_day": event.all_day,
                "start_date": start.date(), "start_time": start.time(),
                "end_date": end.date(), "end_time": end.time(), "time_zone": event.time_zone,
                "rrule": event.rrule, "rsvp_limit": event.rsvp_limit,
                "remind": event.remind_minutes, "announce": False}


class RSVPForm(forms.Form):
    answer = forms.ChoiceField(choices=EventRSVP.Answer.choices, widget=forms.RadioSelect,
                               label=_("Will you come?"))
