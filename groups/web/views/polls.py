"""Polls on the website: start one (its message goes to the group like any post), vote,
see the results. The voting rules are messageserver.polls', shared with votes by mail."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups import activitylog, links
from groups.models import HeldMessage, Message, Poll, PollChoice
from groups.web import access
from messageserver import polls
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable


class PollForm(forms.Form):
    question = forms.CharField(max_length=500, label=gettext_lazy("Question"))
    choices = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), label=gettext_lazy("Choices"),
        help_text=gettext_lazy("One per line, 2 to 20."))
    multiple = forms.BooleanField(required=False,
                                  label=gettext_lazy("Allow several answers per member"))
    anonymous = forms.BooleanField(required=False,
                                   label=gettext_lazy("Anonymous (nobody sees who voted what)"))
    closes_date = forms.DateField(label=gettext_lazy("Closes on"),
                                  widget=forms.DateInput(attrs={"type": "date"}))
    closes_time = forms.TimeField(required=False, label=gettext_lazy("Closes at (time)"),
                                  help_text=gettext_lazy("In your time zone; empty: midnight."),
                                  widget=forms.TimeInput(attrs={"type": "time"}))

    def __init__(self, *args, zone: str = "UTC", **kwargs):  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.zone = zone

    def clean_choices(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["choices"].splitlines()
                 if line.strip()]
        if not polls.MIN_CHOICES <= len(lines) <= polls.MAX_CHOICES:
            raise forms.ValidationError(_("Give between 2 and 20 choices, one per line "
                                          "(there are %(n)s).") % {"n": len(lines)})
        if len({line.lower() for line in lines}) != len(lines):
            raise forms.ValidationError(_("Two choices are the same."))
        if any(len(line) > 200 for line in lines):
            raise forms.ValidationError(_("Keep each choice under 200 characters."))
        return lines

    def clean(self):  # noqa: ANN201
        data = super().clean()
        if "closes_date" in data:
            try:
                tz = zoneinfo.ZoneInfo(self.zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                tz = zoneinfo.ZoneInfo("UTC")
            closes = datetime.combine(data["closes_date"],
                                      data.get("closes_time") or time(23, 59), tz)
            if closes <= timezone.now() + timedelta(minutes=5):
                self.add_error("closes_date", _("Choose a closing time in the future."))
            data["closes_at"] = closes
        return data


def _reader(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.reader(request, group_name)
    if not v.group.polls_enabled:
        raise Http404("this group has no polls")
    return v


def poll_list(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _reader(request, group_name)
    rows = Poll.objects.filter(group=v.group, topic__isnull=False).order_by("-created_at")[:100]
    return render(request, "groups/polls.html", {"v": v, "group": v.group, "polls": rows,
                                                 "now": timezone.now()})


def _mail_text(poll: Poll, choices: list[str]) -> str:
    url = links.absolute(reverse("poll", urlconf=links.WEB, args=[poll.group.name, poll.pk]))
    lines = [poll.question, ""] + [f"  {i}. {c}" for i, c in enumerate(choices, 1)] + [""]
    how = ("several numbers, e.g. 1, 3" if poll.multiple else "one number")
    lines += [f"To vote, reply with {how} on the first line of your reply, or vote at",
              url,
              f"The poll closes {poll.closes_at.strftime('%Y-%m-%d %H:%M UTC')}"
              + (" and is anonymous." if poll.anonymous else ".")]
    return "\n".join(lines) + "\n"


@login_required
def poll_new(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _reader(request, group_name)
    if not v.can_post:
        raise Http404("only members who may post start polls")
    form = PollForm(request.POST or None, zone=getattr(request.user, "time_zone", "UTC"),
                    initial={"closes_date": (timezone.localdate() + timedelta(days=7))})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            poll = Poll.objects.create(group=v.group, question=data["question"],
                                       multiple=data["multiple"], anonymous=data["anonymous"],
                                       closes_at=data["closes_at"], created_by=request.user)
            PollChoice.objects.bulk_create([PollChoice(poll=poll, number=i, text=c)
                                            for i, c in enumerate(data["choices"], 1)])
        try:
            result = MessageServerClient().post(v.group.name, v.membership.email,
                                                f"[Poll] {data['question']}",
                                                _mail_text(poll, data["choices"]))
        except (MessageServerUnavailable, MessageServerError) as exc:
            poll.delete()
            reason = getattr(exc, "body", {}).get("reason") if hasattr(exc, "body") else ""
            form.add_error(None, reason or _("The message server can't be reached right "
                                             "now; the poll was not started. Try again in a "
                                             "minute."))
        else:
            if result.get("number"):
                msg = Message.objects.get(group=v.group, number=result["number"])
                Poll.objects.filter(pk=poll.pk).update(topic=msg.topic,
                                                       message_id=msg.message_id)
                flash.success(request, _("The poll is started and sent to the group."))
            elif result.get("held_id"):
                held = HeldMessage.objects.get(pk=result["held_id"])
                from messageserver.mailparse import parse

                Poll.objects.filter(pk=poll.pk).update(
                    message_id=parse(bytes(held.raw)).message_id)
                flash.info(request, _("Your poll waits for a moderator's approval; it opens "
                                      "when its message is approved."))
                return redirect("polls", v.group.name)
            activitylog.record(v.group, actor=request.user.email, verb="poll_started",
                               target=poll.question)
            return redirect("poll", v.group.name, poll.pk)
    return render(request, "groups/poll_form.html", {"v": v, "group": v.group, "form": form},
                  status=400 if form.is_bound else 200)


class VoteForm(forms.Form):
    def __init__(self, *args, poll: Poll, **kwargs):  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        choices = [(c.number, c.text) for c in poll.choices.all()]
        if poll.multiple:
            self.fields["choice"] = forms.TypedMultipleChoiceField(
                choices=choices, coerce=int, widget=forms.CheckboxSelectMultiple,
                label=_("Your choices"))
        else:
            self.fields["choice"] = forms.TypedChoiceField(
                choices=choices, coerce=int, widget=forms.RadioSelect, label=_("Your choice"))

    def numbers(self) -> list[int]:
        value = self.cleaned_data["choice"]
        return list(value) if isinstance(value, list) else [value]


def poll_detail(request: HttpRequest, group_name: str, poll_id: int) -> HttpResponse:
    v = _reader(request, group_name)
    poll = get_object_or_404(Poll.objects.select_related("topic"), group=v.group, pk=poll_id,
                             topic__isnull=False)
    now = timezone.now()
    membership = v.membership if v.is_member else None
    mine = list(poll.votes.filter(membership=membership).values_list("choice__number",
                                                                    flat=True)) if membership else []
    form = VoteForm(request.POST or None, poll=poll,
                    initial={"choice": mine if poll.multiple else (mine[0] if mine else None)})
    status = 200
    if request.method == "POST":
        if membership is None:
            raise Http404("only members vote")
        if form.is_valid():
            try:
                polls.vote(poll, membership, form.numbers(), now)
            except polls.VoteError as exc:
                form.add_error("choice", str(exc))
            else:
                flash.success(request, _("Your vote is counted."))
                return redirect("poll", v.group.name, poll.pk)
        status = 400
    is_open = polls.is_open(poll, now)
    show = bool(mine) or not is_open or v.is_moderator
    rows, voters = polls.results(poll) if show else ([], 0)
    return render(request, "groups/poll.html", {
        "v": v, "group": v.group, "poll": poll, "form": form, "open": is_open, "mine": mine,
        "show_results": show, "results": rows, "voters": voters}, status=status)
