"""The moderation queue: approve, reject or expire a held message (messageserver.holding
holds it).

A held message keeps its raw bytes in the database until decided, so nothing
held is lost on restart. Approval sends it through ``posts.accept`` exactly as
if it had just arrived; the decision is taken with a conditional UPDATE so two
moderators clicking at once approve it only once.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groups.models import Group, HeldMessage, Membership, Message
from messageserver import mailparse, notices, outcomes, policy, posts
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome

log = logging.getLogger(__name__)


class ModerationError(Exception):
    """The held message can't take this decision (gone, already decided)."""


def decide(held_id: int, action: str, moderator: str, reason: str = "") -> Outcome:
    """Approve or reject a pending held message (action "approve" or "reject")."""
    if action not in ("approve", "reject"):
        raise ModerationError(f"unknown action {action!r}: use approve or reject")
    if action == "approve":
        group = Group.objects.filter(held_messages__pk=held_id).first()
        if group is not None and policy.suspension(group):
            raise ModerationError(policy.suspension(group))
    now = timezone.now()
    state = HeldMessage.State.APPROVED if action == "approve" else HeldMessage.State.REJECTED
    with transaction.atomic():
        taken = HeldMessage.objects.filter(pk=held_id, state=HeldMessage.State.PENDING).update(
            state=state, decided_at=now, decided_by=moderator[:320], decision_reason=reason)
        if not taken:
            current = HeldMessage.objects.filter(pk=held_id).values_list("state", flat=True)
            if not current:
                raise ModerationError(f"no held message {held_id}")
            raise ModerationError(f"held message {held_id} is already {current[0]}")
        held = HeldMessage.objects.select_related("group", "membership").get(pk=held_id)
        if action == "reject":
            notices.message_rejected(held, reason)
            return outcomes.rejected(reason or "rejected by a moderator")
        parsed = mailparse.parse(bytes(held.raw), msgid_domain=settings.GROUPS_DOMAIN)
        inbound = InboundMail(mail_from=held.mail_from, raw=parsed.raw, parsed=parsed,
                              now=now, via=held.source)
        from messageserver import threader

        parsed = inbound.parsed
        topic = threader.find_topic(held.group, parsed.subject,
                                    threader.reference_chain(parsed.in_reply_to,
                                                             parsed.references), now)
        message = posts.accept(held.group, inbound, held.membership, topic=topic,
                               source=held.source if held.source in Message.Source.values
                               else Message.Source.EMAIL, nonmember=held.nonmember)
        if held.membership_id:
            from django.db.models import F

            Membership.objects.filter(pk=held.membership_id).update(
                approved_posts=F("approved_posts") + 1)
    return outcomes.accepted(message.number)


def expire_due(now=None) -> int:
    """Expire held messages past their group's expiry and tell each poster (a scheduled job).

    Each row is taken with a conditional UPDATE and its notice queued in the
    same transaction, so a moderator deciding at the same moment wins cleanly
    and a second run never tells anyone twice.
    """
    now = now or timezone.now()
    due = list(HeldMessage.objects.filter(state=HeldMessage.State.PENDING, expires_at__lte=now)
               .values_list("id", flat=True))
    expired = 0
    for held_id in due:
        with transaction.atomic():
            if not HeldMessage.objects.filter(pk=held_id, state=HeldMessage.State.PENDING
                                              ).update(state=HeldMessage.State.EXPIRED,
                                                       decided_at=now, decided_by="expiry"):
                continue
            notices.message_expired(HeldMessage.objects.select_related("group").get(pk=held_id))
            expired += 1
    return expired
