"""Accounts: sign up (confirmed by email), log in (password or emailed link) and out,
password reset, and the account pages: profile, email addresses, password, deletion.

Sign-up and password reset are rate-limited, log-in failures make growing
delays (groups.ratelimit). A new account is inactive until its address is
confirmed through the signed link we mail, so nobody can post or join as an
address they don't own; groups.web.signup holds the rules that keep an
address's real owner in charge. Every link we mail is built from SITE_URL.
Mail goes out through Django's mail API, i.e. Karl (groups.web.karlbackend).
The rules behind the pages live elsewhere: which address is whose in
groups.accountemails, address changes in groups.web.emailaddresses, deletion in
groups.accountdeletion, where to go next in groups.web.nextpage.
"""

from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from groups import accountdeletion, accountemails, links, ratelimit, tokens
from groups.models import Membership, User, UserEmail
from groups.web import accountforms, emailaddresses, mail, nextpage
from groups.web import signup as signup_rules
from groups.web.forms import SignupForm
from messageserver import membership_actions

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
            user = (User.objects.filter(email__iexact=name).first()
                    or accountemails.owner_of(name))
            if user is not None:
                self.cleaned_data["username"] = user.get_username()
        account = (self.cleaned_data.get("username") or name).lower()
        client = ratelimit.client_ip(self.request) if self.request else "unknown"
        keys = (("login-client", client, ratelimit.LOGIN_BY_CLIENT),
                ("login-pair", f"{account}\x1f{client}", ratelimit.LOGIN_BY_ACCOUNT_AND_CLIENT),
                ("login-account", account, ratelimit.LOGIN_BY_ACCOUNT))
        wait = max(ratelimit.wait_seconds(scope, value) for scope, value, _limit in keys)
        if wait > 0:
            raise forms.ValidationError(
                _("Too many failed attempts. Please wait %(n)s seconds and try again, or "
                  "reset your password.") % {"n": math.ceil(wait)}, code="rate_limited")
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
    """Changing one's password (with the current one) keeps this session
    (update_session_auth_hash) and ends all others: Django checks each session's stored
    password hash on every request. An account without a password (it logs in by
    emailed links) sets its first one here, without a current one."""

    template_name = "groups/password_change.html"
    success_url = reverse_lazy("password_change")

    def get_form_class(self):
        if self.request.user.has_usable_password():
            return accountforms.CurrentPasswordChangeForm
        return accountforms.FirstPasswordForm

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "section": "password",
                "has_password": self.request.user.has_usable_password()}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        flash.success(self.request, _("Your password is changed; you are logged out "
                                      "everywhere else."))
        return response


class LoginView(auth_views.LoginView):
    """Log in by password, or ask for a one-time login link (the second form on the page)."""

    template_name = "groups/login.html"
    authentication_form = EmailLoginForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("link_form", accountforms.LoginLinkForm())
        return context


login = LoginView.as_view()
logout = auth_views.LogoutView.as_view()
password_reset = PasswordResetView.as_view()
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="groups/password_reset_done.html")
password_reset_confirm = PasswordResetConfirmView.as_view()
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="groups/password_reset_complete.html")
password_change = login_required(PasswordChangeView.as_view())


def signup(request: HttpRequest) -> HttpResponse:
    """The same page for a new address, an existing account and an unconfirmed sign-up.

    ``next`` (a group's join page, say) rides in the confirmation link, and this browser
    remembers its sign-up, so following the link here logs in and goes on at once.
    """
    form = SignupForm(request.POST or None)
    next_url = nextpage.from_request(request)
    status = 200
    if request.method == "POST":
        # by client only: a limit per address would let a stranger block its owner
        if not ratelimit.hit("signup-ip", ratelimit.client_ip(request),
                             *ratelimit.SIGNUP_PER_IP):
            form.is_valid()
            form.add_error(None, TOO_MANY)
            return render(request, "groups/signup.html", {"form": form, "next": next_url},
                          status=429)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = signup_rules.sign_up(data["email"], data["display_name"],
                                            data["password1"], next_url=next_url)
            except Exception:
                log.exception("sign-up mail to %s failed", data["email"])
                form.add_error(None, _("We couldn't send the confirmation mail just now; "
                                       "please try again in a few minutes."))
                status = 503
            else:
                if user is not None:
                    signup_rules.remember(request.session, user)
                return render(request, "groups/signup_done.html", {"email": data["email"]})
        else:
            status = 400
    return render(request, "groups/signup.html", {"form": form, "next": next_url},
                  status=status)


# --- log in by an emailed link ---------------------------------------------------------

def _login_stamp(user: User) -> str:
    """Moves at every log-in (Django sets last_login), so a login link works once."""
    if user.last_login is None:
        return "0"
    return tokens.base36(int(user.last_login.timestamp() * 1_000_000))


@require_POST
def login_link_request(request: HttpRequest) -> HttpResponse:
    """Mail a one-time login link to an account's verified address.

    The answer is the same whether or not the address has an account; limited per
    client and per address from that client, as the password reset is.
    """
    form = accountforms.LoginLinkForm(request.POST)
    next_url = nextpage.from_request(request)
    if not form.is_valid():
        return render(request, "groups/login.html", {
            "form": EmailLoginForm(request), "link_form": form, "next": next_url}, status=400)
    email = form.cleaned_data["email"]
    ip = ratelimit.client_ip(request)
    if not ratelimit.hit("loginlink-ip", ip, *ratelimit.RESET_PER_IP) or not ratelimit.hit(
            "loginlink-address", f"{email}\x1f{ip}", *ratelimit.RESET_PER_ADDRESS):
        form.add_error(None, TOO_MANY)
        return render(request, "groups/login.html", {
            "form": EmailLoginForm(request), "link_form": form, "next": next_url}, status=429)
    user = accountemails.owner_of(email)
    if user is not None and user.email_confirmed:
        text = render_to_string("groups/login_link_mail.txt", {
            "user": user, "minutes": links.LOGIN_LINK_MINUTES,
            "url": links.login_link_url(user.pk, _login_stamp(user), next_url)})
        try:
            mail.send(email, _("Your login link"), text)
        except Exception:
            log.exception("login link mail to %s failed", email)
            form.add_error(None, _("We couldn't send the mail just now; please try again in a "
                                   "few minutes."))
            return render(request, "groups/login.html", {
                "form": EmailLoginForm(request), "link_form": form, "next": next_url},
                status=503)
    return render(request, "groups/login_link_sent.html", {"email": email})


def login_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a Log in button (mail scanners follow links), POST logs in and goes on."""
    from groups.web.views.signed import bad_link

    try:
        user_id, stamp = tokens.check(tokens.LOGIN_LINK, token, expires=True)
        user = User.objects.get(pk=int(user_id), is_active=True)
    except (tokens.BadToken, ValueError, User.DoesNotExist) as exc:
        return bad_link(request, exc if isinstance(exc, tokens.BadToken)
                        else _("this link names an account that no longer exists"))
    if stamp != _login_stamp(user):
        return bad_link(request, _("this login link was used already, or a newer log-in "
                                   "replaced it; ask for a new one"))
    next_url = nextpage.from_request(request)
    if request.method == "POST":
        auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        flash.success(request, _("You are logged in."))
        return nextpage.arrive(request, next_url)
    return render(request, "groups/login_link.html", {"account": user, "next": next_url})


# --- the account pages ----------------------------------------------------------------

@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """Display name, time zone, digest hour, default delivery for new groups, language."""
    form = accountforms.ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, _("Your profile is saved."))
            return redirect("profile")
        return render(request, "groups/profile.html", {"form": form, "section": "profile"},
                      status=400)
    return render(request, "groups/profile.html", {"form": form, "section": "profile"})


@login_required
def emails(request: HttpRequest) -> HttpResponse:
    """The account's addresses: add one, make one primary, remove one, resend a link."""
    user = request.user
    add_form = accountforms.AddEmailForm(request.POST if request.POST.get("action") == "add"
                                         else None)
    status = 200
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "add":
                if add_form.is_valid():
                    row = emailaddresses.add(user, add_form.cleaned_data["email"],
                                             make_primary=add_form.cleaned_data["make_primary"])
                    flash.success(request, _("We sent a confirmation link to %(email)s. "
                                             "Follow it to add the address.")
                                  % {"email": row.email})
                    return redirect("emails")
                status = 400
            else:
                row = _address_row(user, request.POST.get("address", ""))
                if action == "primary":
                    if row is None:
                        raise emailaddresses.AddressError(_("This is your primary address "
                                                            "already."))
                    old = emailaddresses.make_primary(user, row)
                    flash.success(request, _("%(new)s is your primary address now; we told "
                                             "%(old)s.") % {"new": user.email, "old": old})
                elif action == "remove":
                    emailaddresses.remove(user, row)
                    flash.success(request, _("The address is removed."))
                elif action == "resend" and row is not None and not row.verified:
                    emailaddresses.send_verification(row)
                    flash.success(request, _("We sent the link to %(email)s again.")
                                  % {"email": row.email})
                else:
                    raise emailaddresses.AddressError(_("Choose what to do with the address."))
                return redirect("emails")
        except emailaddresses.AddressError as exc:
            error, status = str(exc), 400
    rows = list(UserEmail.objects.filter(user=user).exclude(email=user.email.lower()))
    receiving = {}
    for m in Membership.objects.filter(user=user).select_related("group").exclude(
            status__in=[Membership.Status.REMOVED, Membership.Status.UNSUBSCRIBED]):
        receiving.setdefault(m.email, []).append(m.group.name)
    return render(request, "groups/emails.html", {
        "section": "emails", "add_form": add_form, "rows": rows, "error": error,
        "receiving": receiving, "primary_groups": receiving.get(user.email.lower(), []),
        "row_groups": [(r, receiving.get(r.email, [])) for r in rows]}, status=status)


def _address_row(user: User, value: str) -> UserEmail | None:
    """The account's UserEmail named by id, or None for "primary"; else an AddressError."""
    if value == "primary":
        return None
    row = UserEmail.objects.filter(user=user, pk=int(value) if value.isdigit() else 0).first()
    if row is None:
        raise emailaddresses.AddressError(_("This is not one of your addresses."))
    return row


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to a new address: GET shows it, POST adds it (no login needed)."""
    from groups.web.views.signed import bad_link

    try:
        [row_id] = tokens.check(tokens.VERIFY_EMAIL, token, expires=True)
        row = UserEmail.objects.select_related("user").get(pk=int(row_id))
    except (tokens.BadToken, ValueError, UserEmail.DoesNotExist) as exc:
        return bad_link(request, exc if isinstance(exc, tokens.BadToken)
                        else _("this address was removed from its account"))
    error, email = "", row.email  # becoming primary swaps the row's address
    if request.method == "POST" and not row.verified:
        try:
            emailaddresses.verify(row)
        except emailaddresses.AddressError as exc:
            error = str(exc)
        else:
            if row.user.email == email:
                flash.success(request, _("%(email)s is your primary address now.")
                              % {"email": email})
            else:
                flash.success(request, _("%(email)s is added to your account.")
                              % {"email": email})
            if request.user.is_authenticated and request.user.pk == row.user_id:
                return redirect("emails")
    return render(request, "groups/verify_email.html",
                  {"row": row, "email": email, "error": error}, status=400 if error else 200)


@login_required
def delete_account(request: HttpRequest) -> HttpResponse:
    """Confirm with the password; memberships end, posts stay under the name or anonymised."""
    user = request.user
    form = accountforms.DeleteAccountForm(request.POST or None, user=user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                done = accountdeletion.delete_account(
                    user, anonymise=form.cleaned_data["posts"] == form.ANONYMISE)
            except accountdeletion.SoleOwner as exc:
                form.add_error(None, _("You are the only owner of %(groups)s: make someone "
                                       "else owner, or delete the group, first.")
                               % {"groups": ", ".join(exc.groups)})
                status = 400
            else:
                auth_logout(request)
                flash.success(request, _("Your account is deleted."))
                log.info("deleted account: %s", done)
                return redirect("directory")
        else:
            status = 400
    return render(request, "groups/delete_account.html", {
        "section": "delete", "form": form,
        "pending": accountdeletion.pending_posts(user).count(),
        "blocking": accountdeletion.blocking_groups(user),
        "memberships": accountemails.memberships_of(user).filter(
            status__in=list(membership_actions.LEAVABLE)).count()},
        status=status)
