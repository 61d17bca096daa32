"""A membership's status changes on the website, with the notice that goes with each.

Join, leave, one-click unsubscribe, confirming a subscription and an owner's
approval or decline all come through ``change_status``: it locks the row, checks
the status it starts from, writes the new one and queues the notice
(messageserver.notices: welcome, goodbye, pending, declined) in the same transaction,
so the outbox row commits with the change or not at all. A repeated request
(a second one-click POST, a double-clicked approve) changes nothing and
mails nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from groups.membership import ENDED, next_removal
from groups.models import Membership
from messageserver import notices

S = Membership.Status


def _notify(membership: Membership, before: str, reason: str) -> None:
    """The notice for going from ``before`` to the membership's new status, if any."""
    after = membership.status
    if after == S.ACTIVE and before != S.ACTIVE:
        notices.welcome(membership)
    elif after == S.PENDING_APPROVAL and before != S.PENDING_APPROVAL:
        notices.subscription_pending(membership)
    elif after == S.UNSUBSCRIBED and before == S.ACTIVE:
        notices.goodbye(membership)
    elif after == S.REMOVED and before == S.PENDING_APPROVAL:
        notices.join_declined(membership, reason)


def change_status(membership_id: int, to: str, *, allowed_from: Iterable[str],
                  reason: str = "", **fields: Any) -> Membership | None:
    """Move one membership to ``to`` if its status is in ``allowed_from``; None when not.

    ``fields`` are other columns written with the status (the account on joining);
    ``reason`` is the moderator's word that a decline notice passes on.
    """
    allowed = set(allowed_from)
    with transaction.atomic():
        membership = (Membership.objects.select_for_update(of=("self",))
                      .select_related("group", "user")
                      .filter(pk=membership_id).first())
        if membership is None or membership.status not in allowed:
            return None
        before = membership.status
        ending = next_removal() if to in ENDED and before not in ENDED else {}
        Membership.objects.filter(pk=membership.pk).update(status=to, **ending, **fields)
        membership.status = to
        for name, value in fields.items():
            setattr(membership, name, value)
        _notify(membership, before, reason)
    return membership
