"""Accounts: sign up (confirmed by email), log in and out, password reset, profile.

Sign-up, log-in and password reset are rate-limited (groups.ratelimit).
A new account is inactive until its address is confirmed through the signed
link we mail, so nobody can post or join as an address they don't own.
Mail goes out through Django's mail API, i.e. Karl (groups.web.karlbackend).
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages as flash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse_lazy

from groups import links, ratelimit
from groups.models import User
from groups.web import mail
from groups.web.forms import ProfileForm, SignupForm

log = logging.getLogger(__name__)
TOO_MANY = "Too many attempts from here. Please wait a while and try again."


class EmailLoginForm(AuthenticationForm):
    """Log in with an email address (or a username), within the rate limits."""

    username = forms.CharField(label="Email address", max_length=254,
                               widget=forms.TextInput(attrs={"autofocus": True,
                                                             "autocomplete": "email"}))

    def clean(self):
        name = (self.data.get("username") or "").strip()
        if not ratelimit.hit("login-ip", ratelimit.client_ip(self.request),
                             *ratelimit.LOGIN_PER_IP) or not ratelimit.hit(
                "login-account", name, *ratelimit.LOGIN_PER_ACCOUNT):
            raise forms.ValidationError(TOO_MANY, code="rate_limited")
        if "@" in name:
            user = User.objects.filter(email__iexact=name).first()
            if user is not None:
                self.cleaned_data["username"] = user.get_username()
        return super().clean()


class RateLimitedResetForm(PasswordResetForm):
    def __init__(self, *args, request: HttpRequest | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        ip = ratelimit.client_ip(self.request) if self.request else "unknown"
        if not ratelimit.hit("reset-ip", ip, *ratelimit.RESET_PER_IP) or not ratelimit.hit(
                "reset-address", email, *ratelimit.RESET_PER_ADDRESS):
            raise forms.ValidationError(TOO_MANY, code="rate_limited")
        return email


class PasswordResetView(auth_views.PasswordResetView):
    form_class = RateLimitedResetForm
    template_name = "groups/password_reset.html"
    email_template_name = "groups/password_reset_email.txt"
    subject_template_name = "groups/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


login = auth_views.LoginView.as_view(template_name="groups/login.html",
                                     authentication_form=EmailLoginForm)
logout = auth_views.LogoutView.as_view()
password_reset = PasswordResetView.as_view()
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="groups/password_reset_done.html")
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="groups/password_reset_confirm.html",
    success_url=reverse_lazy("password_reset_complete"))
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="groups/password_reset_complete.html")


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not ratelimit.hit("signup-ip", ratelimit.client_ip(request),
                             *ratelimit.SIGNUP_PER_IP):
            form.is_valid()
            form.add_error(None, TOO_MANY)
            return render(request, "groups/signup.html", {"form": form}, status=429)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    user = User.objects.create_user(
                        username=data["email"][:150], email=data["email"],
                        password=data["password1"], display_name=data["display_name"],
                        is_active=False)
                    text = render_to_string("groups/confirm_email_mail.txt", {
                        "user": user, "url": links.confirm_email_url(user.pk)})
                    mail.send(user.email, "Confirm your address", text)
            except Exception:
                log.exception("sign-up confirmation mail to %s failed", data["email"])
                form.add_error(None, "We couldn't send the confirmation mail just now; "
                               "please try again in a few minutes.")
                status = 503
            else:
                return render(request, "groups/signup_done.html", {"email": user.email})
        else:
            status = 400
    return render(request, "groups/signup.html", {"form": form}, status=status)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, "Your profile is saved.")
            return redirect("profile")
        return render(request, "groups/profile.html", {"form": form}, status=400)
    return render(request, "groups/profile.html", {"form": form})
