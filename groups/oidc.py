"""Logging in with an existing identity: OpenID Connect (and GitHub's OAuth) through
django-allauth's socialaccount, on the platform's own accounts.

Which providers are offered is groups/oidcproviders.py (read by the settings).

The rules (``SocialAdapter``), so that an identity never takes over an account:
- the provider must assert a *verified* email, or the login is refused;
- a new identity whose verified email is an existing account's verified address is linked
  to that account (and logs into it); one whose email is unknown signs up a new account;
- a logged-in person may connect further identities from their account page, and unlink
  them there (``groups/web/views/logins.py``).
"""

from __future__ import annotations

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.http import HttpRequest
from django.shortcuts import render


def verified_email(sociallogin) -> str:  # noqa: ANN001
    """The address the provider vouches for, lower-cased, or "" when it vouches for none."""
    for address in sociallogin.email_addresses:
        if address.verified and address.email:
            return address.email.strip().lower()
    return ""


def _refuse(request: HttpRequest, reason: str) -> ImmediateHttpResponse:
    return ImmediateHttpResponse(render(request, "groups/oidc_refused.html",
                                        {"reason": reason}, status=403))


class SocialAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin) -> None:  # noqa: ANN001
        from groups.models import User

        if sociallogin.is_existing:
            return  # this identity is linked already: it logs into its account
        if sociallogin.state.get("process") == "connect":
            return  # a logged-in person adds an identity: they proved both sides
        email = verified_email(sociallogin)
        if not email:
            raise _refuse(request, "Your provider did not confirm that it verified your "
                                   "email address, so it can't be used to log in here. "
                                   "Sign up with your address instead.")
        user = account_for(email)
        if user is not None:
            sociallogin.connect(request, user)
        elif User.objects.filter(email__iexact=email).exists():
            raise _refuse(request, "An account with this address exists but hasn't "
                                   "confirmed it yet. Log in with its password or confirm "
                                   "the address first, then connect this login from your "
                                   "account page.")

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin) -> bool:  # noqa: ANN001
        return bool(verified_email(sociallogin))

    def is_open_for_signup(self, request: HttpRequest, sociallogin) -> bool:  # noqa: ANN001
        return True

    def populate_user(self, request: HttpRequest, sociallogin, data):  # noqa: ANN001, ANN201
        user = super().populate_user(request, sociallogin, data)
        user.email = verified_email(sociallogin) or user.email
        user.display_name = (data.get("name") or " ".join(
            p for p in (data.get("first_name"), data.get("last_name")) if p) or "")[:150]
        return user

    def save_user(self, request: HttpRequest, sociallogin, form=None):  # noqa: ANN001, ANN201
        user = super().save_user(request, sociallogin, form)
        user.email_confirmed = True  # the provider verified it: that is the condition
        user.save(update_fields=["email_confirmed"])
        return user


def account_for(email: str):  # noqa: ANN201
    """The account whose *verified* address this is, or None."""
    from groups.models import User

    return User.objects.filter(email__iexact=email, email_confirmed=True).first()


def display(user) -> str:  # noqa: ANN001
    """How allauth's pages name a user: as ours do."""
    return str(user)
