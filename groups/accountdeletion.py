"""Deleting an account: memberships ended, held posts withdrawn, posts kept or anonymised.

Memberships end through their action (messageserver.membership_actions.leave:
the goodbye notice, the activity log); the rows stay, without the account, so
a ban keeps holding the address. The person's posts waiting for a moderator
are withdrawn (discarded through messageserver.moderation.decide): nobody is
left to answer for them. Archived posts stay, under the name, or anonymised:
the name and address shown in the archive, in search and in the stored
original's From are replaced by ANONYMOUS_NAME and ANONYMOUS_ADDRESS.
"""

from __future__ import annotations

import email
import email.policy
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from groups import accountemails, deletion
from groups.models import HeldMessage, Membership, Message, RawMessage, User
from messageserver import membership_actions, moderation

log = logging.getLogger(__name__)

ANONYMOUS_NAME = "Former member"
ANONYMOUS_ADDRESS = "former-member@invalid"
_IDENTIFYING = ("From", "Sender", "Reply-To")


class SoleOwner(ValueError):
    """The account is the only active owner of these groups (names in ``groups``)."""

    def __init__(self, groups: list[str]):
        super().__init__(", ".join(groups))
        self.groups = groups


@dataclass
class Deleted:
    memberships_ended: int
    held_withdrawn: int
    posts_anonymised: int


def blocking_groups(user: User) -> list[str]:
    """Groups the account alone owns: a group keeps an active owner, so these block."""
    owned = accountemails.memberships_of(user).filter(
        role=Membership.Role.OWNER, status=Membership.Status.ACTIVE)
    return sorted(m.group.name for m in owned.select_related("group")
                  if not Membership.objects.filter(
                      group_id=m.group_id, role=Membership.Role.OWNER,
                      status=Membership.Status.ACTIVE).exclude(pk=m.pk).exists())


def pending_posts(user: User):
    """The account's posts still waiting for a moderator."""
    rows = accountemails.memberships_of(user).values("pk")
    return HeldMessage.objects.filter(state=HeldMessage.State.PENDING).filter(
        Q(membership__in=rows) | Q(sender_email__in=accountemails.verified_addresses(user)))


def delete_account(user: User, *, anonymise: bool) -> Deleted:
    """Delete ``user`` (raises SoleOwner first when a group would lose its last owner)."""
    sole = blocking_groups(user)
    if sole:
        raise SoleOwner(sole)
    actor = user.email
    addresses = accountemails.verified_addresses(user)
    rows = list(accountemails.memberships_of(user))
    ended = sum(1 for m in rows if m.status in membership_actions.LEAVABLE
                and membership_actions.leave(m.pk, actor=actor) is not None)
    withdrawn = 0
    for held_id in pending_posts(user).values_list("pk", flat=True):
        try:
            moderation.decide(held_id, "discard", f"{actor} (account deleted)",
                              "The sender deleted their account.")
            withdrawn += 1
        except moderation.ModerationError:  # decided meanwhile by a moderator
            pass
    anonymised = 0
    with transaction.atomic():
        if anonymise:
            anonymised = _anonymise(Q(membership__in=[m.pk for m in rows])
                                    | Q(sender_email__in=addresses))
        user.delete()  # its addresses go with it; the membership rows stay, without it
    log.info("account %s deleted: %d memberships ended, %d held withdrawn, %d anonymised",
             user.pk, ended, withdrawn, anonymised)
    return Deleted(ended, withdrawn, anonymised)


def _anonymise(which: Q) -> int:
    """Replace the sender shown for these messages, everywhere the archive shows it."""
    ids = list(Message.objects.filter(which).values_list("pk", flat=True))
    if not ids:
        return 0
    Message.objects.filter(pk__in=ids).update(sender_name=ANONYMOUS_NAME,
                                              sender_email=ANONYMOUS_ADDRESS, membership=None)
    for raw in RawMessage.objects.filter(message_id__in=ids):
        raw.data = _without_sender(bytes(raw.data))
        raw.save(update_fields=["data"])
    deletion.search_reindex(ids)
    return len(ids)


def _without_sender(data: bytes) -> bytes:
    """The stored original with its identifying header fields replaced (the body stays)."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    for name in _IDENTIFYING:
        if name in msg:
            del msg[name]
    msg["From"] = f"{ANONYMOUS_NAME} <{ANONYMOUS_ADDRESS}>"
    return msg.as_bytes()
