"""The forms an owner runs a group with: create a group, the settings sections, the
danger zone and the notices editor.

Each settings section is its own small form over existing Group fields, with
one sentence of help per option; sizes are typed and shown in KB/MB and
stored in bytes. Errors name the field; nothing here writes a membership's
status (membership_actions does that).
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from groups import groupcreation
from groups.models import Group, Membership
from platformcore.env import get_env


class CreateGroupForm(forms.Form):
    name = forms.CharField(
        max_length=64, label=_("Group name"),
        help_text=format_lazy(_("The group's address: NAME@{domain}; lower-case letters, "
                                "digits and hyphens."), domain=settings.GROUPS_DOMAIN))
    title = forms.CharField(max_length=200, label=_("Title"),
                            help_text=_("The name people see on the website and in mail."))
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, label=_("Description"),
        help_text=_("What the group is for, shown on its page and in the directory."))
    style = forms.ChoiceField(
        label=_("Starting style"), widget=forms.RadioSelect,
        choices=[(k, f"{s.label}: {s.help}") for k, s in groupcreation.STYLES.items()],
        initial="discussion",
        help_text=_("A starting point; every setting can be changed later."))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip().lower()
        problem = groupcreation.name_problem(name)
        if problem:
            raise forms.ValidationError(problem)
        return name

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("Give the group a title."))
        return title


# --- the settings sections ---------------------------------------------------------

class GeneralForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["title", "description", "guidelines", "guidelines_monthly"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4}),
                   "guidelines": forms.Textarea(attrs={"rows": 6})}
        labels = {"title": _("Title"), "description": _("Description"), "guidelines": _("Guidelines"),
                  "guidelines_monthly": _("Send the guidelines to every member once a month")}
        help_texts = {
            "title": _("The name people see on the website and in mail."),
            "description": _("What the group is for, shown on its page and in the directory."),
            "guidelines": _("The group's rules; they are sent with the welcome message."),
            "guidelines_monthly": _("A monthly reminder to all members, when there are guidelines.")}

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("Give the group a title."))
        return title

    def clean(self):
        data = super().clean()
        if data.get("guidelines_monthly") and not (data.get("guidelines") or "").strip():
            self.add_error("guidelines_monthly", _("Write the guidelines first: there is "
                                                 "nothing to send."))
        return data


class PrivacyForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["privacy", "join_policy"]
        labels = {"privacy": _("Who can find the group and read its archive"),
                  "join_policy": _("Who can join")}
        help_texts = {
            "privacy": _("Hidden groups are not listed, and only members know they exist."),
            "join_policy": _("With approval, owners and moderators accept each request; by "
                           "invitation, only invited people can join.")}


MAX_EDIT_WINDOW = 525_600  # minutes: a year


class PostingForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["posting_policy", "new_member_posts_moderated", "nonmember_policy",
                  "unauthenticated_policy", "moderation_expiry_days", "auto_lock_days",
                  "edit_window_minutes", "send_edits"]
        labels = {"posting_policy": _("Who can post"),
                  "new_member_posts_moderated": _("Posts held for a new member"),
                  "nonmember_policy": _("Posts from non-members"),
                  "unauthenticated_policy": _("Posts whose sender is not authenticated"),
                  "moderation_expiry_days": _("Days a held message waits"),
                  "auto_lock_days": _("Lock quiet topics after (days)"),
                  "edit_window_minutes": _("Members may edit their posts for (minutes)"),
                  "send_edits": _("Send edits to members as a reply")}
        help_texts = {
            "posting_policy": _("A member's own posting status, set on the member's page, "
                              "overrides this."),
            "new_member_posts_moderated": _("With “New members are moderated”: how many of a "
                                          "new member's posts a moderator approves first."),
            "nonmember_policy": _("Mail from people who are not members is refused with a "
                                "notice, or held for a moderator."),
            "unauthenticated_policy": _("Mail whose sender's domain vouches for it by neither "
                                      "SPF nor DKIM, which may be forged."),
            "moderation_expiry_days": _("A held message nobody decides on is discarded after "
                                      "this many days, and its sender told."),
            "auto_lock_days": _("Topics without a post for this many days take no more "
                              "replies; 0 never locks."),
            "edit_window_minutes": _("How long after posting members may still correct "
                                     "their message on the website: 60 is an hour, 1440 a "
                                     "day; 0 turns editing off."),
            "send_edits": _("Members who get each message by email also get the edited "
                            "version, as a reply to the original. Digests always carry the "
                            "version current when they are sent.")}

    def clean_new_member_posts_moderated(self) -> int:
        value = self.cleaned_data["new_member_posts_moderated"]
        if not 1 <= value <= 1000:
            raise forms.ValidationError(_("Choose from 1 to 1000 posts."))
        return value

    def clean_moderation_expiry_days(self) -> int:
        value = self.cleaned_data["moderation_expiry_days"]
        if not 1 <= value <= 365:
            raise forms.ValidationError(_("Choose from 1 to 365 days."))
        return value

    def clean_edit_window_minutes(self) -> int:
        value = self.cleaned_data["edit_window_minutes"]
        if value > MAX_EDIT_WINDOW:
            raise forms.ValidationError(_("Choose at most %(max)d minutes (a year); 0 turns "
                                          "editing off.") % {"max": MAX_EDIT_WINDOW})
        return value

    def clean_auto_lock_days(self) -> int:
        value = self.cleaned_data["auto_lock_days"]
        if value > 3650:
            raise forms.ValidationError(_("Choose at most 3650 days (0 never locks)."))
        return value


DMARC_PLAIN = {
    Group.DmarcHandling.AUTO: "Only when needed: if the poster's domain tells receivers to "
                              "refuse mail it did not send itself, show the post as from "
                              "“Name via the group”",
    Group.DmarcHandling.ALWAYS: "Always show posts as from “Name via the group”",
    Group.DmarcHandling.NEVER: "Never: keep the poster's own address (some members' mail "
                               "providers may then refuse or junk posts)",
}


class FormattingForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["subject_tag", "reply_to", "footer_template", "dmarc_handling"]
        widgets = {"footer_template": forms.Textarea(attrs={"rows": 6})}
        labels = {"subject_tag": _("Subject tag"), "reply_to": _("Replies go to"),
                  "footer_template": _("Footer"),
                  "dmarc_handling": _("Sender's address on posts")}
        help_texts = {
            "subject_tag": _("Put before every subject, e.g. [hikers]; leave empty for none."),
            "reply_to": _("Where a member's Reply button sends their answer."),
            "footer_template": _("Added to the end of every post; the variables below are "
                               "filled in for each member."),
            "dmarc_handling": _("Some domains (like Yahoo and AOL) forbid others to send mail "
                              "in their name, so the group must rewrite the sender to be "
                              "delivered.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dmarc_handling"].choices = [
            (k, DMARC_PLAIN[k]) for k, _ in Group.DmarcHandling.choices]

    def clean_subject_tag(self) -> str:
        tag = self.cleaned_data["subject_tag"]
        if "\n" in tag or "\r" in tag:
            raise forms.ValidationError(_("The subject tag must be one line."))
        return tag.strip()

    def clean_footer_template(self) -> str:
        from groups.web.footer import FooterError, render_footer

        text = self.cleaned_data["footer_template"]
        try:
            render_footer(text, self.instance)
        except FooterError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text


class DeliveryForm(forms.ModelForm):
    """How posts are sent: personal copies (the default) or bulk delivery."""

    class Meta:
        model = Group
        fields = ["bulk_delivery"]


_SIZE_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(kb|k|mb|m)?\s*$", re.I)


def parse_size(text: str) -> int:
    """ "10 MB", "500 KB", "2.5 MB" or a bare number of MB -> bytes; ValueError if not."""
    found = _SIZE_RE.match(text or "")
    if not found:
        raise ValueError(text)
    number = float(found.group(1).replace(",", "."))
    unit = (found.group(2) or "mb").lower()[0]
    return int(round(number * (1024 if unit == "k" else 1024 * 1024)))


def format_size(size: int) -> str:
    """Bytes as the owner typed them: whole MB when it is, else KB."""
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(size // 1024, 1)} KB"


class SizeField(forms.CharField):
    """A size typed as "10 MB" or "500 KB", cleaned to bytes."""

    def __init__(self, *args, maximum: int, **kwargs):
        super().__init__(*args, max_length=20, **kwargs)
        self.maximum = maximum

    def prepare_value(self, value):
        return format_size(value) if isinstance(value, int) else value

    def clean(self, value) -> int:
        text = super().clean(value)
        try:
            size = parse_size(text)
        except ValueError:
            raise forms.ValidationError(_("Write a size such as 10 MB or 500 KB.")) from None
        if size < 1024:
            raise forms.ValidationError(_("Choose at least 1 KB."))
        if size > self.maximum:
            raise forms.ValidationError(
                _("This site takes messages up to %(size)s.") % {"size": format_size(self.maximum)})
        return size


class ToolsForm(forms.ModelForm):
    """The group tools an owner switches on or off (issue #18: more come here)."""

    class Meta:
        model = Group
        fields = ["calendar_enabled", "calendar_events_by", "polls_enabled", "files_enabled",
                  "photos_enabled", "files_added_by", "wiki_enabled", "wiki_edited_by"]
        labels = {"calendar_enabled": "Calendar", "calendar_events_by": "Who may add events",
                  "polls_enabled": "Polls", "files_enabled": "Files",
                  "photos_enabled": "Photos", "files_added_by": "Who may add files and photos",
                  "wiki_enabled": "Wiki", "wiki_edited_by": "Who may edit the wiki"}
        help_texts = {"calendar_enabled": "Members see the group's calendar, answer events "
                                          "and get their announcements and reminders."}


class LimitsForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["max_message_size", "max_attachment_size", "allowed_attachment_types"]
        widgets = {"allowed_attachment_types": forms.Textarea(attrs={"rows": 2})}
        labels = {"allowed_attachment_types": _("Allowed attachment types")}
        help_texts = {"allowed_attachment_types": _("Comma-separated types such as image/, "
                      "application/pdf; empty allows every type.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        site_max = get_env().max_message_size
        self.fields["max_message_size"] = SizeField(
            maximum=site_max, label=_("Largest message"),
            help_text=_("Posts larger than this, attachments included, are refused "
                      "(e.g. 10 MB or 500 KB)."))
        self.fields["max_attachment_size"] = SizeField(
            maximum=site_max, label=_("Largest attachment"),
            help_text=_("Any one attached file larger than this is refused."))

    def clean_allowed_attachment_types(self) -> str:
        raw = self.cleaned_data["allowed_attachment_types"]
        types = [t.strip().lower() for t in raw.replace("\n", ",").split(",") if t.strip()]
        for t in types:
            if not re.match(r"^[a-z0-9.+-]+/([a-z0-9.+-]+)?$", t):
                raise forms.ValidationError(_("“%(type)s” is not a type such as image/ or "
                                              "application/pdf.") % {"type": t})
        return ", ".join(types)

    def clean(self):
        data = super().clean()
        msg, att = data.get("max_message_size"), data.get("max_attachment_size")
        if msg and att and att > msg:
            self.add_error("max_attachment_size", _("An attachment can't be larger than the "
                                                  "largest message."))
        return data


class TransferOwnershipForm(forms.Form):
    new_owner = forms.ModelChoiceField(
        queryset=Membership.objects.none(), label=_("New owner"),
        help_text=_("An active member, who becomes an owner; you stay on as a moderator."))

    def __init__(self, *args, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        members = Membership.objects.filter(
            group=group, status=Membership.Status.ACTIVE).exclude(
            role=Membership.Role.OWNER).order_by("email")
        self.fields["new_owner"].queryset = members
        self.fields["new_owner"].label_from_instance = lambda m: f"{m.name} <{m.email}>"


class DeleteGroupForm(forms.Form):
    confirm_name = forms.CharField(
        max_length=64, label=_("Type the group's name to confirm"),
        help_text=_("The group, its members and its whole archive are deleted; this can't "
                  "be undone."))

    def __init__(self, *args, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.group.name:
            raise forms.ValidationError(_("Type %(name)s exactly to delete the group.") % {
                "name": self.group.name})
        return typed


class NoticeForm(forms.Form):
    subject = forms.CharField(max_length=200, label=_("Subject"),
                              help_text=_("One line; it may use the variables below."))
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 14}), label=_("Text"),
                           help_text=_("Plain text; {{ variable }} is filled in, "
                                     "{% if %} … {% endif %} shows a part only sometimes."))

    def __init__(self, *args, kind: str, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.group = kind, group

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"]
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError(_("The subject must be one line."))
        return subject.strip()

    def clean(self):
        from groups.web.noticeeditor import NoticeError, preview

        data = super().clean()
        if "subject" in data and "body" in data:
            try:
                preview(self.kind, self.group, data["subject"], data["body"])
            except NoticeError as exc:
                self.add_error(exc.field, str(exc))
        return data

