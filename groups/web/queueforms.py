"""Forms of the moderation queue: a decision on held messages, and saved reject reasons.

The form only checks what the person typed (ids in this group's queue, a
known action, a saved reason of this group); the rule itself (what each
action does, what may be edited) is messageserver.moderation's.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from groups.models import Group, HeldMessage, ModerationReason
from messageserver.heldedit import MAX_SUBJECT


class QueueDecisionForm(forms.Form):
    """One decision on one or several held messages (the per-message buttons and bulk)."""

    ACTIONS = [("approve", _("Approve")),
               ("approve_unmoderate", _("Approve and unmoderate sender")),
               ("approve_edited", _("Approve edited message")), ("reject", _("Reject")),
               ("discard", _("Discard silently"))]

    action = forms.ChoiceField(choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, label=_("Messages"), error_messages={
        "required": _("Select at least one message."),
        "invalid_choice": _("A selected message is no longer waiting (someone decided it).")})
    saved_reason = forms.ModelChoiceField(queryset=ModerationReason.objects.none(),
                                          required=False, label=_("Saved reason"),
                                          empty_label=_("(type a reason below)"))
    reason = forms.CharField(required=False, max_length=2000,
                             label=_("Reason for rejecting (sent to the poster)"),
                             widget=forms.Textarea(attrs={"rows": 2}))
    subject = forms.CharField(required=False, max_length=MAX_SUBJECT)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args, group: Group, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ids"].choices = [(pk, pk) for pk in HeldMessage.objects.filter(
            group=group, state=HeldMessage.State.PENDING).values_list("pk", flat=True)]
        self.fields["saved_reason"].queryset = ModerationReason.objects.filter(group=group)

    def clean(self) -> dict:
        data = super().clean()
        action = data.get("action")
        if action == "approve_edited":
            if len(data.get("ids") or []) != 1:
                self.add_error("ids", _("Edit one message at a time."))
            if not (data.get("subject") or "").strip():
                self.add_error("subject", _("A subject is needed."))
            if not (data.get("body") or "").strip():
                self.add_error("body", _("The message needs some text."))
        return data

    @property
    def reject_reason(self) -> str:
        """What the poster is told: the typed words, else the saved reason's text."""
        typed = (self.cleaned_data.get("reason") or "").strip()
        saved = self.cleaned_data.get("saved_reason")
        return typed or (saved.text if saved else "")


class ModerationReasonForm(forms.ModelForm):
    class Meta:
        model = ModerationReason
        fields = ["title", "text"]
        labels = {"title": _("Name of the reason"), "text": _("What the poster is told")}
        help_texts = {"title": _("A short name moderators pick from, e.g. \"Off topic\"."),
                      "text": _("Sent to the poster in the rejection notice.")}
        widgets = {"text": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, group: Group, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_title(self) -> str:
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise forms.ValidationError(_("A name is needed."))
        clash = ModerationReason.objects.filter(group=self.group, title__iexact=title)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("This group already has a reason with that name."))
        return title

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError(_("Say what the poster is told."))
        return text
