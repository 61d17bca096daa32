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

The browser that signed up needs no password again: the sign-up remembers, in
that browser's session, a MAC of the password hash it set (``remember``). The
link opened there (``signed_up_here``) activates and logs in at once; a later
sign-up over the same address changes the hash, so an older browser's memory
no longer counts. Opened anywhere else, the link asks for the password.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from groups import accountemails, links
from groups.models import Membership, User
from groups.web import mail

log = logging.getLogger(__name__)


SESSION_KEY = "signup_pending"


def sign_up(email: str, display_name: str, password: str, next_url: str = "") -> User | None:
    """Start (or restart) a sign-up; raises if the mail can't be handed to Karl.

    Returns the account when a confirmation link went out (None when its owner was
    told they have an account), only for ``remember``: the caller must answer every
    address alike. ``next_url`` rides in the link (groups.web.nextpage).
    """
    email = email.strip().lower()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(email__iexact=email).first()
        if user is None:  # a further verified address of an account is that account's
            user = accountemails.owner_of(email)
        if user is not None and user.email_confirmed:
            text = render_to_string("groups/signup_exists_mail.txt", {
                "user": user, "login_url": links.absolute(reverse("login", urlconf=links.WEB)),
                "reset_url": links.absolute(reverse("password_reset", urlconf=links.WEB))})
            mail.send(email, str(_("You already have an account")), text)
            return None
        if user is None:
            user = User.objects.create_user(username=email[:150], email=email,
                                            password=password, display_name=display_name,
                                            is_active=False)
        else:  # an unconfirmed sign-up (perhaps a stranger's): the latest one counts
            user.set_password(password)
            user.display_name = display_name
            user.save(update_fields=["password", "display_name"])
        text = render_to_string("groups/confirm_email_mail.txt", {
            "user": user, "url": links.confirm_email_url(user.pk, next_url=next_url)})
        mail.send(user.email, str(_("Confirm your address")), text)
    return user


def _password_mac(user: User) -> str:
    return salted_hmac("groups.signup.browser", user.password).hexdigest()


def remember(session, user: User) -> None:
    """This browser signed up ``user`` with the password now set (see the module's text)."""
    session[SESSION_KEY] = {"id": user.pk, "mac": _password_mac(user)}


def signed_up_here(session, user: User) -> bool:
    """Whether this browser's sign-up is the one that set ``user``'s current password."""
    mine = session.get(SESSION_KEY) or {}
    return mine.get("id") == user.pk and constant_time_compare(mine.get("mac", ""),
                                                               _password_mac(user))


def forget(session) -> None:
    session.pop(SESSION_KEY, None)


def activate(user: User) -> None:
    """The mailbox's owner has proven themselves: the account works and gets its memberships."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(email_confirmed=True, is_active=True)
        # Memberships made by email before the account existed now belong to it.
        Membership.objects.filter(email=user.email.lower(), user=None).update(user=user)
    user.email_confirmed = user.is_active = True
