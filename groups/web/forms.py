"""The website's forms. Labels and help texts are written for people, errors name the field."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from groups.models import Feed, Group, Hashtag, Membership, User
from groups.web.widgets import LongSelect
from messageserver.richpost import INLINE_TYPES as INLINE_IMAGE_TYPES
from platformcore import markdown

TIME_ZONES = sorted(__import__("zoneinfo").available_timezones())


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Zero or more uploaded files, as a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


FORMAT_CHOICES = [("markdown", _("Markdown")), ("plain", _("Plain text"))]
MARKDOWN_HELP = _("Markdown: **bold**, *italic*, [a link](https://example.org), lists, "
                  "> quotes, tables and ``` code blocks (name the language after the "
                  "backticks to colour it). Show an attached picture with ![a caption]"
                  "(file-name.jpg).")


class MessageTextForm(forms.Form):
    """Subject, format and text of a post: shared by posting and by editing a post."""

    subject = forms.CharField(max_length=500, required=True, label=_("Subject"))
    text_format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False, initial="markdown",
                                    label=_("Format"), widget=forms.RadioSelect,
                                    help_text=MARKDOWN_HELP)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), label=_("Message"))

    def clean_text_format(self) -> str:
        # a form without the field (an older page, a script) posts plain text, as before
        return self.cleaned_data.get("text_format") or "plain"

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"]
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError(_("The subject must be one line."))
        return subject.strip()

    @property
    def is_markdown(self) -> bool:
        return (self.cleaned_data.get("text_format") if hasattr(self, "cleaned_data")
                else self["text_format"].value()) == "markdown"


class PostForm(MessageTextForm):
    """A new topic (subject required) or a reply (subject optional)."""

    attachments = MultipleFileField(label=_("Attachments"), help_text=_(
        "Optional; you may pick several files. A picture named in a Markdown message "
        "(![caption](file-name.jpg)) is shown in place."))

    def __init__(self, *args, group: Group, reply: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group
        if reply:
            self.fields["subject"].required = False

    def clean(self):
        data = super().clean()
        if not self.is_markdown or "body" not in data or "attachments" not in data:
            return data
        files = {f.name: f for f in data["attachments"]}
        for src in markdown.image_sources(markdown.render(data["body"])):
            name = src.removeprefix("cid:")
            if "://" in src or src.startswith("//") or (src.startswith("cid:") and
                                                        name not in files):
                continue
            if name not in files:
                if not self.previewing:
                    self.add_error("attachments", _(
                        "The picture “%(name)s” is shown in the message but not attached: "
                        "attach a file of that name, or remove it from the text.")
                        % {"name": name})
            elif (files[name].content_type or "").lower() not in INLINE_IMAGE_TYPES:
                self.add_error("attachments", _(
                    "“%(name)s” is not a PNG, JPEG, GIF or WebP picture, so it can't be shown "
                    "in the message; attach it without naming it in the text.")
                    % {"name": name})
        return data

    @property
    def previewing(self) -> bool:
        return "preview" in self.data

    def clean_attachments(self) -> list:
        files = self.cleaned_data.get("attachments") or []
        allowed = [t.strip().lower() for t in self.group.allowed_attachment_types.split(",")
                   if t.strip()]
        for f in files:
            if f.size > self.group.max_attachment_size:
                raise forms.ValidationError(
                    _("%(name)s is larger than this group's limit of %(limit)s KB.") % {
                        "name": f.name, "limit": self.group.max_attachment_size // 1024})
            ctype = (f.content_type or "application/octet-stream").lower()
            if allowed and not any(ctype == t or (t.endswith("/") and ctype.startswith(t))
                                   for t in allowed):
                raise forms.ValidationError(_("%(file)s: files of type %(type)s are not allowed in "
                                              "this group.") % {"file": f.name, "type": ctype})
        if sum(f.size for f in files) > self.group.max_message_size:
            raise forms.ValidationError(_("These files together are over the group's size limit."))
        return files


class SubscriptionForm(forms.ModelForm):
    """A member's own settings in one group; ``address`` is which of the account's verified
    addresses receives this group's mail (set through membership_actions.set_address)."""

    address = forms.ChoiceField(label=_("Send this group's mail to"), required=False, help_text=_(
        "One of your account's verified addresses; add more on your account's Email "
        "addresses page."))

    class Meta:
        model = Membership
        fields = ["display_name", "delivery", "message_selection"]
        labels = {"display_name": _("Your name in this group"), "delivery": _("Email delivery"),
                  "message_selection": _("Which messages")}
        help_texts = {"display_name": _("Leave empty to use your profile's name.")}

    def __init__(self, *args, addresses: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(dict.fromkeys([*addresses, self.instance.email]))
        self.fields["address"].choices = [(a, a) for a in choices]
        self.fields["address"].initial = self.instance.email
        self.fields["address"].valid_addresses = addresses
        self.order_fields(["address", "display_name", "delivery", "message_selection"])

    def clean_address(self) -> str:
        """Left out of the form (an older page, a script): the address stays."""
        address = self.cleaned_data["address"] or self.instance.email
        if address == self.instance.email:
            return address
        if address not in self.fields["address"].valid_addresses:
            raise forms.ValidationError(_("%(address)s is not a verified address of your "
                                          "account.") % {"address": address})
        return address


class SignupForm(forms.Form):
    email = forms.EmailField(max_length=254)
    display_name = forms.CharField(max_length=150, label=_("Your name"))
    password1 = forms.CharField(widget=forms.PasswordInput, label=_("Password"),
                                help_text=password_validation.password_validators_help_text_html())
    password2 = forms.CharField(widget=forms.PasswordInput, label=_("Password again"))

    def clean_email(self) -> str:
        # Never say whether the address has an account (groups.web.signup mails its owner).
        return self.cleaned_data["email"].strip().lower()

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            try:
                password_validation.validate_password(p1, User(email=data.get("email", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class ConfirmEmailForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label=_("Password"),
                               help_text=_("The password you chose when you signed up."))


class HashtagForm(forms.ModelForm):
    class Meta:
        model = Hashtag
        fields = ["name", "description", "color", "moderated", "no_email", "expires_days",
                  "expire_action", "moderators_only", "replies_moderators_only",
                  "special_notice"]
        help_texts = {
            "moderated": _("Posts in topics with this hashtag wait for a moderator, replies "
                         "too (a topic's hashtags apply to all its replies)."),
            "no_email": _("Topics with this hashtag are archived but not emailed."),
            "moderators_only": _("Only moderators may start a topic with this hashtag or add "
                               "it to one."),
            "replies_moderators_only": _("Only moderators may reply in topics with this "
                                       "hashtag."),
        }

    def __init__(self, *args, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip().lstrip("#")
        if not name or any(c.isspace() for c in name):
            raise forms.ValidationError(_("A hashtag is one word, without spaces."))
        clash = Hashtag.objects.filter(group=self.group, name__iexact=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("#%(name)s exists already.") % {"name": name})
        return name


class FeedForm(forms.ModelForm):
    """A feed to post into the group: an http(s) URL, and an active member as the poster."""

    url = forms.URLField(max_length=1000, assume_scheme="https",
                         label=_("Feed address (RSS or Atom)"))

    class Meta:
        model = Feed
        fields = ["url", "title", "poster_email", "subject_prefix"]
        labels = {"poster_email": _("Post as (a member)"),
                  "subject_prefix": _("Subject prefix")}
        help_texts = {"poster_email": _("The new entries are posted from this member's address."),
                      "title": _("Optional; shown in this list only."),
                      "subject_prefix": _("Optional, e.g. [Blog].")}

    def __init__(self, *args, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError(_("The feed address must start with http:// or https://."))
        if Feed.objects.filter(group=self.group, url=url).exists():
            raise forms.ValidationError(_("This group already has this feed."))
        from cronjobs.config import FeedSettings
        from cronjobs.publichttp import literal_is_private

        # An address written as an IP is judged now; a name is judged when it is fetched.
        if literal_is_private(url) and not FeedSettings.from_env().allow_private:
            raise forms.ValidationError(_("Feeds are fetched from public addresses only; this "
                                        "address is on a private or local network."))
        return url

    def clean_poster_email(self) -> str:
        email = self.cleaned_data["poster_email"].strip().lower()
        if not Membership.objects.filter(group=self.group, email=email,
                                         status=Membership.Status.ACTIVE).exists():
            raise forms.ValidationError(_("%(email)s is not an active member of this group.") % {
                "email": email})
        return email

    def clean_subject_prefix(self) -> str:
        prefix = self.cleaned_data["subject_prefix"]
        if "\n" in prefix or "\r" in prefix:
            raise forms.ValidationError(_("The prefix must be one line."))
        return prefix.strip()


class SearchForm(forms.Form):
    """The search box and its filters; every field optional, bad values explained.

    The words come first (the header's box sends only them); the filters are
    offered beside the results as a "Refine" form. The group is picked by its
    title from the groups the person may read (``set_groups``), but any name
    is accepted: one the person may not read simply finds nothing, exactly as
    an empty group would, so the page never tells which names exist.
    """

    q = forms.CharField(max_length=200, required=False, label=_("Search messages"),
                        widget=forms.TextInput(attrs={"type": "search"}),
                        help_text=_('Words must all match; "quotes" for a phrase, -word to '
                                    "exclude, word* for a prefix."))
    group = forms.RegexField(regex=r"^[A-Za-z0-9][A-Za-z0-9_-]*(\+[A-Za-z0-9][A-Za-z0-9_-]*)?$",
                             max_length=129, required=False, label=_("Group"),
                            widget=LongSelect(choices=[("", _("All groups"))]))
    author = forms.CharField(max_length=200, required=False, label=_("Author"),
                             help_text=_("A name or an address."))
    date_from = forms.DateField(required=False, label=_("From"),
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=_("To (inclusive)"),
                              widget=forms.DateInput(attrs={"type": "date"}))
    has_attachment = forms.BooleanField(required=False, label=_("Has attachment"))
    hashtag = forms.CharField(max_length=64, required=False, label=_("Hashtag"))

    FILTERS = ("group", "author", "date_from", "date_to", "has_attachment", "hashtag")

    def set_groups(self, choices: list[tuple[str, str]]) -> None:
        """(name, title) of the groups the person may read, for the Group menu."""
        self.fields["group"].widget.choices = [("", _("All groups"))] + list(choices)

    def clean_hashtag(self) -> str:
        return self.cleaned_data["hashtag"].strip().lstrip("#")

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


class DirectoryForm(forms.Form):
    """Searching and filtering the group directory; every field optional."""

    class Show:
        ALL, MINE, JOINABLE = "", "mine", "joinable"

    q = forms.CharField(max_length=200, required=False, label=_("Search groups"),
                        help_text=_("Words in a group's name, title or description."))
    privacy = forms.ChoiceField(required=False, label=_("Privacy"), choices=[
        ("", _("Any")), ("public", _("Public archive")), ("private", _("Private (members only)"))])
    show = forms.ChoiceField(required=False, label=_("Show"), choices=[
        (Show.ALL, _("All groups")), (Show.MINE, _("Groups I'm in")),
        (Show.JOINABLE, _("Groups I can join"))])
    sort = forms.ChoiceField(required=False, label=_("Sort by"), choices=[
        ("", _("Name")), ("newest", _("Newest first")), ("members", _("Most members")),
        ("active", _("Latest activity"))])


def clean_address(value: str) -> str:
    value = value.strip().lower()
    validate_email(value)
    return value
