"""The account pages' forms: profile, addresses, log-in link, password, deleting the account.

Labels are what a person looks for on the page ("Display name", "Time zone",
"Current password"); errors name their field.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.utils.translation import gettext_lazy as _

from groups.models import Membership, User
from groups.web.forms import TIME_ZONES


class ProfileForm(forms.ModelForm):
    """Name, time zone, digests, the delivery new groups start with, and the language."""

    time_zone = forms.ChoiceField(label=_("Time zone"), choices=[(z, z) for z in TIME_ZONES])
    default_delivery = forms.ChoiceField(
        label=_("Default delivery for new groups"), choices=Membership.Delivery.choices,
        required=False,
        help_text=_("How mail reaches you from a group you join on this website; each "
                    "group's subscription page can change it later."))
    language = forms.ChoiceField(
        label=_("Language"), required=False,
        choices=[("", _("Same as my browser")), *settings.LANGUAGES])

    class Meta:
        model = User
        fields = ["display_name", "time_zone", "digest_hour", "default_delivery", "language"]
        labels = {"display_name": _("Display name"), "digest_hour": _("Digest hour")}
        help_texts = {"display_name": _("Shown with your posts and in member lists."),
                      "digest_hour": _("Local hour (0-23) at which your digests are sent.")}

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise forms.ValidationError(_("Enter the name to show with your posts."))
        if any(c in name for c in "\r\n<>"):
            raise forms.ValidationError(_("A name is one line, without < or >."))
        return name

    def clean_digest_hour(self) -> int:
        hour = self.cleaned_data["digest_hour"]
        if not 0 <= hour <= 23:
            raise forms.ValidationError(_("Pick an hour from 0 to 23."))
        return hour

    def clean_default_delivery(self) -> str:
        """Left out of a form that doesn't show it: it stays as it was."""
        return self.cleaned_data["default_delivery"] or self.instance.default_delivery


class AddEmailForm(forms.Form):
    email = forms.EmailField(label=_("New email address"), max_length=254)
    make_primary = forms.BooleanField(
        label=_("Make it my primary address once confirmed"), required=False,
        help_text=_("To change your email address: tick this, then follow the link we mail "
                    "to the new address. We tell the old address."))

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class LoginLinkForm(forms.Form):
    email = forms.EmailField(label=_("Email for a login link"), max_length=254)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class CurrentPasswordChangeForm(PasswordChangeForm):
    """Django's form, labelled the way people say it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["old_password"].label = _("Current password")
        self.fields["new_password1"].label = _("New password")
        self.fields["new_password2"].label = _("New password again")


class FirstPasswordForm(SetPasswordForm):
    """For an account that has no password yet (it logs in by emailed links)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = _("New password")
        self.fields["new_password2"].label = _("New password again")


class DeleteAccountForm(forms.Form):
    """Confirmed by the password, or by typing the address when the account has none."""

    KEEP, ANONYMISE = "keep", "anonymise"
    posts = forms.ChoiceField(
        label=_("Your posts in the archives"), widget=forms.RadioSelect,
        choices=[(KEEP, _("Keep my posts under my name")),
                 (ANONYMISE, _("Anonymise my posts (the archive shows \"Former member\")"))])
    password = forms.CharField(label=_("Current password"), widget=forms.PasswordInput,
                               required=False)
    confirm_email = forms.CharField(label=_("Type your email address to confirm"),
                                    required=False)

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if user.has_usable_password():
            del self.fields["confirm_email"]
            self.fields["password"].required = True
        else:
            del self.fields["password"]
            self.fields["confirm_email"].required = True

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your current password."))
        return password

    def clean_confirm_email(self) -> str:
        typed = self.cleaned_data["confirm_email"].strip().lower()
        if typed != self.user.email.lower():
            raise forms.ValidationError(_("Type %(email)s exactly.") % {"email": self.user.email})
        return typed
