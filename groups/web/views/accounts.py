"""Accounts: sign up (confirmed by email), log in and out, password reset, profile.

Sign-up and password reset are rate-limited, log-in failures make growing
delays (groups.ratelimit). A new account is inactive until its address is
confirmed through the signed link we mail, so nobody can post or join as an
address they don't own; groups.web.signup holds the rules that keep an
address's real owner in charge. Every link we mail is built from SITE_URL.
Mail goes out through Django's mail API, i.e. Karl (groups.web.karlbackend).
"""

from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups import ratelimit
from groups.models import User
from groups.web import signup as signup_rules
from groups.web.forms import ProfileForm, SignupForm

log = logging.getLogger(__name__)
TOO_MANY = gettext_lazy("Too many attempts from here. Please wait a while and try again.")


class EmailLoginForm(AuthenticationForm):
    """Log in with an email address (or a username); failures make growing delays.

    The delays are per client, per account and client, and (short) per account
    (groups.ratelimit.Backoff): a guesser slows themselves down, never the owner.
    """

    username = forms.CharField(label=_("Email address"), max_length=254,
                               widget=forms.TextInput(attrs={"autofocus": True,
                                                             "autocomplete": "email"}))

    def clean(self):
        name = (self.data.get("username") or "").strip()
        if "@" in name:
            user = User.objects.filter(email__iexact=name).first()
            if user is not None:
                self.cleaned_data["username"] = user.get_username()
        account = (self.cleaned_data.get("username") or name).lower()
        client = ratelimit.client_ip(self.request) if self.request else "unknown"
        keys = (("login-client", client, ratelimit.LOGIN_BY_CLIENT),
                ("login-pair", f"{account}\x1f{client}", ratelimit.LOGIN_BY_ACCOUNT_AND_CLIENT),
                ("login-account", account, ratelimit.LOGIN_BY_ACCOUNT))
        wait = max(ratelimit.wait_seconds(scope, value) for scope, value, _ in keys)
        if wait > 0:
            raise forms.ValidationError(
                f"Too many failed attempts. Please wait {math.ceil(wait)} seconds and try "
                "again, or reset your password.", code="rate_limited")
        try:
            return super().clean()
        except forms.ValidationError as exc:
            if exc.code == "invalid_login":
                for scope, value, backoff in keys:
                    ratelimit.failed(scope, value, backoff)
            raise
        finally:
            if self.user_cache is not None:
                ratelimit.succeeded("login-pair", f"{account}\x1f{client}")


class RateLimitedResetForm(PasswordResetForm):
    """Password reset for an address: works for an unconfirmed sign-up too (see signup.py)."""

    def __init__(self, *args, request: HttpRequest | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        ip = ratelimit.client_ip(self.request) if self.request else "unknown"
        # per address *from this client*: a stranger's requests never block the owner's
        if not ratelimit.hit("reset-ip", ip, *ratelimit.RESET_PER_IP) or not ratelimit.hit(
                "reset-address", f"{email}\x1f{ip}", *ratelimit.RESET_PER_ADDRESS):
            raise forms.ValidationError(TOO_MANY, code="rate_limited")
        return email

    def get_users(self, email: str):
        """Active accounts, and unconfirmed sign-ups (the mailbox's owner takes them over)."""
        for user in User.objects.filter(email__iexact=email):
            if (user.is_active or not user.email_confirmed) and user.has_usable_password():
                yield user


class PasswordResetView(auth_views.PasswordResetView):
    """The reset mail's link is built from SITE_URL, never from the request's Host."""

    form_class = RateLimitedResetForm
    template_name = "groups/password_reset.html"
    email_template_name = "groups/password_reset_email.txt"
    subject_template_name = "groups/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        site = urlsplit(settings.SITE_URL)
        form.save(domain_override=site.netloc, use_https=site.scheme == "https",
                  token_generator=self.token_generator, from_email=self.from_email,
                  email_template_name=self.email_template_name,
                  subject_template_name=self.subject_template_name, request=self.request,
                  extra_email_context={"site_url": settings.SITE_URL})
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A new password from the mailbox's owner: every session of the account ends (Django
    ties sessions to the password hash), and an unconfirmed sign-up becomes theirs."""

    template_name = "groups/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        if not form.user.email_confirmed:  # a deactivated, confirmed account stays so
            signup_rules.activate(form.user)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Changing one's password keeps this session (update_session_auth_hash) and ends all
    others: Django checks each session's stored password hash on every request."""

    template_name = "groups/password_change.html"
    success_url = reverse_lazy("profile")

    def form_valid(self, form):
        response = super().form_valid(form)
        flash.success(self.request, _("Your password is changed; you are logged out everywhere "
                      "else."))
        return response


login = auth_views.LoginView.as_view(template_name="groups/login.html",
                                     authentication_form=EmailLoginForm)
logout = auth_views.LogoutView.as_view()
password_reset = PasswordResetView.as_view()
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="groups/password_reset_done.html")
password_reset_confirm = PasswordResetConfirmView.as_view()
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="groups/password_reset_complete.html")
password_change = login_required(PasswordChangeView.as_view())


def signup(request: HttpRequest) -> HttpResponse:
    """The same page for a new address, an existing account and an unconfirmed sign-up."""
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        # by client only: a limit per address would let a stranger block its owner
        if not ratelimit.hit("signup-ip", ratelimit.client_ip(request),
                             *ratelimit.SIGNUP_PER_IP):
            form.is_valid()
            form.add_error(None, TOO_MANY)
            return render(request, "groups/signup.html", {"form": form}, status=429)
        if form.is_valid():
            data = form.cleaned_data
            try:
                signup_rules.sign_up(data["email"], data["display_name"], data["password1"])
            except Exception:
                log.exception("sign-up mail to %s failed", data["email"])
                form.add_error(None, _("We couldn't send the confirmation mail just now; "
                               "please try again in a few minutes."))
                status = 503
            else:
                return render(request, "groups/signup_done.html", {"email": data["email"]})
        else:
            status = 400
    return render(request, "groups/signup.html", {"form": form}, status=status)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, _("Your profile is saved."))
            return redirect("profile")
        return render(request, "groups/profile.html", {"form": form}, status=400)
    return render(request, "groups/profile.html", {"form": form})
