"""Holding a post for the moderators: the HeldMessage row and the notices, in one transaction.

Apart from the queue's decisions (messageserver.moderation) because a post
(messageserver.posts) is held here and an approved one goes back through
posts: with both in one module the two would import each other.
A held message keeps its raw bytes in the database until decided, so nothing
held is lost on restart.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from groups.models import Group, HeldMessage, Membership
from messageserver import notices, webhookevents
from messageserver.inbound import InboundMail


def hold(group: Group, inbound: InboundMail, membership: Membership | None, reason: str,
         *, nonmember: bool = False, source: str = "email") -> HeldMessage:
    """Keep the post for the moderators (until its group's moderation_expiry_days) and
    tell them, and the poster, in the same transaction."""
    with transaction.atomic():
        held = HeldMessage.objects.create(
            group=group, membership=membership, raw=inbound.raw, mail_from=inbound.mail_from,
            sender_email=inbound.parsed.from_email or inbound.mail_from,
            subject=inbound.parsed.subject[:500], reason=reason[:200], nonmember=nonmember,
            source=source, created_at=inbound.now,
            expires_at=inbound.now + timedelta(days=group.moderation_expiry_days),
        )
        notices.message_held(held)
        webhookevents.message_held(held)
    return held
