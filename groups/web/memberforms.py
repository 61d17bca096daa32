"""Forms of the owners' member pages: the list's filters, bulk actions, one member's
settings, adding and inviting, bans and sender rules, the activity log's search.

Every bad value becomes a form error naming the field (never a 500); the views
apply what a form cleaned through messageserver.membership_actions (states),
groups.membership (roles, adding) or their own small model writes (rules).
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from groups import activitylog
from groups.models import BanRule, Membership, SenderRule
from platformcore import addresspatterns

M = Membership
ANY = [("", _("Any"))]
MAX_UPLOAD = 5 * 1024 * 1024

STATUS_FILTERS = [
    ("", _("Members and pending")), ("active", _("Members")),
    ("pending", _("Pending (invited, confirming or awaiting approval)")),
    ("banned", _("Banned")), ("former", _("Former (left or removed)")), ("all", _("Everyone")),
]
class MemberFilterForm(forms.Form):
    """The member list's search and filters (GET)."""

    q = forms.CharField(required=False, max_length=200, label=_("Search by address or name"))
    status = forms.ChoiceField(required=False, choices=STATUS_FILTERS, label=_("Status"))
    role = forms.ChoiceField(required=False, choices=ANY + M.Role.choices, label=_("Role"))
    delivery = forms.ChoiceField(required=False, choices=ANY + M.Delivery.choices,
                                 label=_("Delivery"))
    posting = forms.ChoiceField(required=False, choices=ANY + M.PostingStatus.choices,
                                label=_("Posting status"))
    bouncing = forms.BooleanField(required=False, label=_("Bouncing only"))


def bulk_actions(*, owner: bool) -> list[tuple[str, str]]:
    """The bulk action select's choices; role changes are for owners only."""
    actions = [("remove", _("Remove")), ("ban", _("Ban")), ("unban", _("Unban"))]
    actions += [(f"delivery_{k}", _("Set delivery: %(label)s") % {"label": label}) for k, label in M.Delivery.choices]
    actions += [(f"posting_{k}", _("Set posting status: %(label)s") % {"label": label})
                for k, label in M.PostingStatus.choices]
    if owner:
        actions += [("role_member", _("Make member")), ("role_moderator", _("Make moderator")),
                     ("role_owner", _("Make owner"))]
    return actions


class BulkMemberForm(forms.Form):
    """A selection (checkboxes) and one action for all of it."""

    ids = forms.TypedMultipleChoiceField(
        coerce=int, choices=[], label=_("Selected members"),
        error_messages={"required": _("Select at least one member.")})
    action = forms.ChoiceField(choices=[], label=_("With the selected members"))

    def __init__(self, *args, owner: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = bulk_actions(owner=owner)

    def clean_ids(self) -> list[int]:
        return self.cleaned_data["ids"]

    def valid_ids(self, known: set[int]) -> None:
        """Keep only the group's rows (the view passes the ones that exist)."""
        self.fields["ids"].choices = [(i, i) for i in known]


class MemberSettingsForm(forms.Form):
    """One member's settings, as an owner or moderator changes them."""

    display_name = forms.CharField(required=False, max_length=150, label=_("Display name"))
    role = forms.ChoiceField(choices=M.Role.choices, label=_("Role"),
                             help_text=_("Owners run the group; moderators moderate posts "
                                       "and members."))
    delivery = forms.ChoiceField(choices=M.Delivery.choices, label=_("Delivery"),
                                 help_text=_("How this member receives the group's mail."))
    posting_status = forms.ChoiceField(
        choices=M.PostingStatus.choices, label=_("Posting status"),
        help_text=_("“Override” lets this member post unmoderated even while the group "
                  "moderates new members; “Moderated” holds every post for approval."))

    def __init__(self, *args, may_change_role: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_change_role:
            del self.fields["role"]


class RemoveForm(forms.Form):
    """Remove or ban one member, with the reason kept in the activity log."""

    reason = forms.CharField(required=False, max_length=500, label=_("Reason (kept in the log)"))


class AddMembersForm(forms.Form):
    """Addresses pasted or uploaded, and whether to add them or invite them."""

    addresses = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, label=_("Addresses"),
        help_text=_("One per line: address, Name &lt;address&gt;, or address,Name."))
    csv_file = forms.FileField(required=False, label=_("Or a CSV file"),
                               help_text=_("Columns: email, name (optional)."))
    delivery = forms.ChoiceField(choices=M.Delivery.choices, initial=M.Delivery.INDIVIDUAL,
                                 label=_("Delivery"))
    invite = forms.BooleanField(required=False, label=_("Invite them (they confirm by email) "
                                "instead of adding them directly"))

    def __init__(self, *args, may_add_directly: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_add_directly:  # moderators invite; the person confirms
            del self.fields["invite"]

    def clean_csv_file(self):
        upload = self.cleaned_data.get("csv_file")
        if upload and upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The CSV file is over 5 MB."))
        return upload

    def clean(self):
        data = super().clean()
        lines = (data.get("addresses") or "").splitlines()
        upload = data.get("csv_file")
        if upload:
            text = upload.read().decode("utf-8-sig", "replace")
            rows = text.splitlines()
            if rows and rows[0].replace(" ", "").lower() in ("email,name", "email"):
                rows = rows[1:]  # a header row
            lines += rows
        data["lines"] = [ln for ln in lines if ln.strip()]
        data["invite"] = data.get("invite", True)
        if not data["lines"] and not self.errors:
            self.add_error("addresses", _("Give at least one address, here or in a CSV file."))
        return data


class _PatternRuleForm(forms.ModelForm):
    """A group's rule keyed by an address pattern: one rule per pattern, checked once here."""

    taken = ""  # the form error for a pattern the group has a rule for already

    def __init__(self, *args, group, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_pattern(self) -> str:
        try:
            pattern = addresspatterns.check(self.cleaned_data["pattern"])
        except addresspatterns.BadPattern as exc:
            raise forms.ValidationError(str(exc)) from exc
        if self._meta.model.objects.filter(group=self.group, pattern=pattern).exists():
            raise forms.ValidationError(self.taken)
        return pattern


class BanForm(_PatternRuleForm):
    """Ban an address or a pattern, member or not."""

    class Meta:
        model = BanRule
        fields = ["pattern", "reason"]
        labels = {"pattern": _("Address or pattern"), "reason": _("Reason")}
        help_texts = {
            "pattern": _("someone@example.org, a pattern such as *@spam.example, or a regular "
                       "expression starting with ^."),
            "reason": _("Told to the sender whose post is refused, and kept in the log.")}

    taken = _("This address or pattern is banned already.")


class SenderRuleForm(_PatternRuleForm):
    """What to do with posts from a non-member sender."""

    class Meta:
        model = SenderRule
        fields = ["pattern", "action", "reason"]
        labels = {"pattern": _("Sender address or pattern"), "action": _("Action"),
                  "reason": _("Rejection reason")}
        help_texts = {
            "pattern": _("someone@example.org, *@partner.example, or a regular expression "
                       "starting with ^. Applies to people who are not members."),
            "action": _("Accept posts them as if a member; hold sends them to the moderation "
                      "queue; reject refuses them with your reason; discard drops them "
                      "without a word."),
            "reason": _("Sent back with a rejection (reject only).")}

    taken = _("There is a rule for this sender already.")

    def clean(self):
        data = super().clean()
        if data.get("action") != SenderRule.Action.REJECT and data.get("reason"):
            self.add_error("reason", _("A reason goes with “reject” only."))
        return data


class ActivityFilterForm(forms.Form):
    """The activity log's search (GET)."""

    q = forms.CharField(required=False, max_length=320, label=_("Address or message"),
                        help_text=_("An address, the start of one, or “message #12”."))
    verb = forms.ChoiceField(required=False, label=_("What happened"),
                             choices=ANY + [(k, k.replace("_", " ").capitalize())
                                            for k in sorted(activitylog.VERBS)])
