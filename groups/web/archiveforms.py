"""Forms of archive management: rename, merge, move, split, and the mbox download range."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from groups.models import Group, Topic

TOPIC_CHOICES = 500  # the most recent topics offered in a list; any of the group's is valid


class TopicChoiceForm(forms.Form):
    """A target topic of the same group (the page offers the most recent ones)."""

    target = forms.ModelChoiceField(queryset=Topic.objects.none(), label=_("Topic"),
                                    empty_label=_("(choose a topic)"))

    def __init__(self, *args, group: Group, exclude: Topic | None = None, label: str = "",
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        topics = Topic.objects.filter(group=group)
        if exclude is not None:
            topics = topics.exclude(pk=exclude.pk)
        field = self.fields["target"]
        field.queryset = topics
        if label:
            field.label = label
        recent = topics.order_by("-last_post_at", "-pk")[:TOPIC_CHOICES]
        field.widget.choices = [("", "(choose a topic)")] + [
            (t.pk, f"{t.subject} ({t.message_count} message{'s' if t.message_count != 1 else ''}"
                   f", last {t.last_post_at:%d %b %Y})") for t in recent]


class RenameTopicForm(forms.Form):
    subject = forms.CharField(max_length=500, label=_("Topic subject"))


class SplitTopicForm(forms.Form):
    subject = forms.CharField(max_length=500, required=False, label=_("Subject of the new topic"),
                              help_text=_("Empty: the message's own subject."))


class ArchiveDownloadForm(forms.Form):
    date_from = forms.DateField(required=False, label=_("From (first day included)"),
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=_("To (last day included)"),
                              widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The last day is before the first."))
        return data

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[since, until) in UTC for the archive's dates."""
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        since = datetime.combine(start, time.min, tzinfo=UTC) if start else None
        until = datetime.combine(end, time.min, tzinfo=UTC) + timedelta(days=1) if end else None
        return since, until
