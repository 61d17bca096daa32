"""Sign-up and account activation: the rules that keep an address's real owner in charge.

Whoever submits the sign-up form gets the same answer for a new address, an
address with an account and an address with an unconfirmed sign-up; only the
mailbox learns which it was (a confirmation link, or "you already have an
account"). An unconfirmed sign-up blocks nobody: a later sign-up for the same
address replaces its password, and a password reset works on it. Activating
needs both the mailbox (the signed link) and the password chosen at sign-up,
so the owner who clicks a stranger's confirmation link cannot hand the
stranger their address: without that password they can only choose their own
(password reset), which kills the stranger's.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext

from groups import links
from groups.models import Membership, User
from groups.web import mail

log = logging.getLogger(__name__)


def sign_up(email: str, display_name: str, password: str) -> None:
    """Start (or restart) a sign-up; raises if the mail can't be handed to Karl.

    Nothing about the outcome is returned: the caller must answer every
    address alike.
    """
    email = email.strip().lower()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(email__iexact=email).first()
        if user is not None and user.email_confirmed:
            text = render_to_string("groups/signup_exists_mail.txt", {
                "user": user, "login_url": links.absolute(reverse("login", urlconf=links.WEB)),
                "reset_url": links.absolute(reverse("password_reset", urlconf=links.WEB))})
            mail.send(user.email, gettext("You already have an account"), text)
            return
        if user is None:
            user = User.objects.create_user(username=email[:150], email=email,
                                            password=password, display_name=display_name,
                                            is_active=False)
        else:  # an unconfirmed sign-up (perhaps a stranger's): the latest one counts
            user.set_password(password)
            user.display_name = display_name
            user.save(update_fields=["password", "display_name"])
        text = render_to_string("groups/confirm_email_mail.txt", {
            "user": user, "url": links.confirm_email_url(user.pk)})
        mail.send(user.email, gettext("Confirm your address"), text)


def activate(user: User) -> None:
    """The mailbox's owner has proven themselves: the account works and gets its memberships."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(email_confirmed=True, is_active=True)
        # Memberships made by email before the account existed now belong to it.
        Membership.objects.filter(email=user.email.lower(), user=None).update(user=user)
    user.email_confirmed = user.is_active = True
