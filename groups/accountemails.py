"""Which addresses belong to an account, and which membership a sender's address is.

An account has its primary address (``User.email``) and further addresses
(``UserEmail``), each verified by a signed link mailed to it. A post or command
from any verified address of an account counts as that account's member: this
module's ``membership_for_address`` is the one rule, called by the pipeline
(``messageserver.posts.find_membership``) and by the website
(``groups.web.access.membership_for``), so mail and web agree on who a person is.
Unverified addresses count for nothing: anyone may type an address into a form.
"""

from __future__ import annotations

from django.db.models import Q

from groups.models import Group, Membership, User, UserEmail

S = Membership.Status


def verified_addresses(user: User) -> list[str]:
    """The account's verified addresses, primary first (lower case)."""
    primary = user.email.strip().lower()
    others = (UserEmail.objects.filter(user=user, verified=True).exclude(email=primary)
              .values_list("email", flat=True))
    return [primary, *others]


def owner_of(address: str) -> User | None:
    """The active account that has verified ``address`` (primary or further), if any."""
    address = address.strip().lower()
    if not address:
        return None
    user = User.objects.filter(email__iexact=address, is_active=True).first()
    if user is not None:
        return user
    row = (UserEmail.objects.filter(email=address, verified=True, user__is_active=True)
           .select_related("user").first())
    return row.user if row is not None else None


def address_taken(address: str, *, by_other_than: User | None = None) -> bool:
    """Whether another account holds ``address`` as its primary or a verified address."""
    address = address.strip().lower()
    users = User.objects.filter(email__iexact=address)
    rows = UserEmail.objects.filter(email=address, verified=True)
    if by_other_than is not None:
        users = users.exclude(pk=by_other_than.pk)
        rows = rows.exclude(user=by_other_than)
    return users.exists() or rows.exists()


def _prefer(rows: list[Membership]) -> Membership | None:
    """Of several rows of one account in a group, the one that is in (or nearest to it)."""
    order = {S.ACTIVE: 0, S.BANNED: 1, S.PENDING_APPROVAL: 2, S.PENDING_CONFIRM: 3,
             S.INVITED: 4}
    return min(rows, key=lambda m: (order.get(m.status, 9), m.pk), default=None)


def membership_for_address(group: Group, address: str) -> Membership | None:
    """The membership that mail from ``address`` acts for in ``group``.

    The row for that very address, when it is in or banned (it may predate any
    account); else the best row of the account that verified the address,
    whichever of its addresses that row receives mail at; else the row for the
    address, whatever its state. A ban on the address's own row always holds.
    """
    address = (address or "").strip().lower()
    if not address:
        return None
    exact = (Membership.objects.filter(group=group, email=address).select_related("user")
             .first())
    if exact is not None and exact.status in (S.ACTIVE, S.BANNED):
        return exact
    user = owner_of(address)
    if user is not None:
        rows = list(Membership.objects.filter(group=group, user=user).select_related("user"))
        if exact is not None:
            rows.append(exact)
        return _prefer(rows)
    return exact


def _of_account(user: User) -> Q:
    """Rows of the account: by account, or at its primary or any further verified address."""
    further = UserEmail.objects.filter(user=user, verified=True).values("email")
    return Q(user=user) | Q(email=user.email.strip().lower()) | Q(email__in=further)


def membership_for_user(group: Group, user: User) -> Membership | None:
    """A logged-in person's membership: by account, or by any of their verified addresses.

    Every web page and API call asks this, so it is one query whose three parts each
    use an index (the account's rows; the group's row at an address): written as one
    WHERE with ORs, databases scanned every row of the group, 100,000 in a big one.
    """
    rows = Membership.objects.filter(group=group)
    further = UserEmail.objects.filter(user=user, verified=True).values("email")
    found = list(rows.filter(user=user).union(
        rows.filter(email=user.email.strip().lower()), rows.filter(email__in=further)))
    for row in found:  # the account is at hand: no join, no query when it is read
        if row.user_id == user.pk:
            row.user = user
    return _prefer(found)


def memberships_of(user: User):
    """Every membership row of the account: by account, or at any of its verified addresses."""
    return Membership.objects.filter(_of_account(user))
