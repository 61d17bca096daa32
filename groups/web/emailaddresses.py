"""An account's addresses: add (verified by a link to the new address), make primary, remove.

Which address a post or command counts for is decided in groups.accountemails;
this module only changes the set, mailing what each change needs: the link to
a new address, and a notice to the old primary address when the primary
changes (so a taken-over session can't quietly move an account away from its
owner's mailbox).
"""

from __future__ import annotations

from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from groups import accountemails, links
from groups.models import Membership, User, UserEmail
from groups.web import mail
from messageserver import membership_actions


class AddressError(ValueError):
    """A change the account's addresses can't take; the message is for the page."""


def add(user: User, email: str, *, make_primary: bool = False) -> UserEmail:
    """Add ``email`` unverified and mail it the link; raises if the mail can't go out.

    With ``make_primary`` the address becomes the primary one when verified: a change
    of email address, verified by the new mailbox, the old one told.
    """
    email = email.strip().lower()
    if email in accountemails.verified_addresses(user):
        raise AddressError(_("%(email)s is already one of your addresses.") % {"email": email})
    row, _created = UserEmail.objects.update_or_create(
        user=user, email=email, defaults={"make_primary": make_primary})
    send_verification(row)
    return row


def send_verification(row: UserEmail) -> None:
    text = render_to_string("groups/verify_email_mail.txt", {
        "user": row.user, "email": row.email, "url": links.verify_email_url(row.pk)})
    mail.send(row.email, _("Confirm your new address"), text)


def verify(row: UserEmail) -> None:
    """The mailbox answered the link: the address is the account's, for mail and posts.

    Memberships made at this address before (by mail, with no account) become the
    account's, as a sign-up's do (groups.web.signup.activate).
    """
    if accountemails.address_taken(row.email, by_other_than=row.user):
        raise AddressError(_("%(email)s belongs to another account.") % {"email": row.email})
    with transaction.atomic():
        UserEmail.objects.filter(pk=row.pk).update(verified=True, make_primary=False)
        Membership.objects.filter(email=row.email, user=None).update(user=row.user)
    row.verified = True
    if row.make_primary:
        row.make_primary = False
        make_primary(row.user, row)


def make_primary(user: User, row: UserEmail) -> str:
    """Swap ``row`` with the primary address; the old one stays, verified. Returns it.

    The old address is told (and keeps receiving each group's mail it received
    before: that is each membership's own choice).
    """
    if row.user_id != user.pk or not row.verified:
        raise AddressError(_("Only a verified address can become your primary address."))
    old, new = user.email.lower(), row.email
    if User.objects.filter(email__iexact=new).exclude(pk=user.pk).exists():
        raise AddressError(_("%(email)s belongs to another account.") % {"email": new})
    with transaction.atomic():
        UserEmail.objects.filter(pk=row.pk).update(email=old)
        User.objects.filter(pk=user.pk).update(email=new)
    user.email = new
    text = render_to_string("groups/primary_changed_mail.txt", {
        "user": user, "old": old, "new": new})
    mail.send(old, _("Your account's primary address changed"), text)
    return old


def remove(user: User, row: UserEmail | None) -> None:
    """Remove a further address (None: the primary, which can't go).

    Memberships that received mail there move to the primary address, through
    their action (messageserver.membership_actions.set_address).
    """
    if row is None:
        if not UserEmail.objects.filter(user=user, verified=True).exists():
            raise AddressError(_("This is your only address: an account needs one. Add "
                                 "another address first, or delete the account."))
        raise AddressError(_("This is your primary address: make another address primary "
                             "first."))
    if row.user_id != user.pk:
        raise AddressError(_("This is not one of your addresses."))
    if row.verified:
        for m in Membership.objects.filter(user=user, email=row.email):
            try:
                membership_actions.set_address(m.pk, user.email, actor=user.email)
            except membership_actions.AddressRefused as exc:
                raise AddressError(str(exc)) from None
    row.delete()
