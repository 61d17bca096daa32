"""The moderation queue: approve (as is, edited, or unmoderating the sender), reject,
discard or expire a held message (messageserver.holding holds it). The web, the API
and mailed replies (messageserver.modreply) all decide through ``decide``.

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

from groups import activitylog
from groups.models import Group, HeldMessage, Membership, Message
from messageserver import (
    heldedit,
    mailparse,
    membership_actions,
    notices,
    outcomes,
    policy,
    posts,
    webhookevents,
)
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome

log = logging.getLogger(__name__)


class ModerationError(Exception):
    """The held message can't take this decision (gone, already decided)."""


# approve: as received (or as edited); approve_unmoderate: and the sender's posting status
# becomes "override" (never moderated again); reject: the poster is told why; discard:
# nobody is told (spam).
ACTIONS = ("approve", "approve_unmoderate", "reject", "discard")
_VERB = {"approve": "approve_message", "approve_unmoderate": "approve_unmoderate",
         "reject": "reject_message", "discard": "discard_message"}
_STATE = {"approve": HeldMessage.State.APPROVED, "approve_unmoderate": HeldMessage.State.APPROVED,
          "reject": HeldMessage.State.REJECTED, "discard": HeldMessage.State.DISCARDED}


def decide(held_id: int, action: str, moderator: str, reason: str = "", *,
           subject: str | None = None, body: str | None = None) -> Outcome:
    """Decide a pending held message: one of ACTIONS, by the web, the API or a mailed reply.

    With ``subject`` and ``body`` an approval archives and sends the moderator's
    edited version (heldedit.EditError names a bad field); the original stays
    in ``raw``. Everything (the decision, the archive, the fan-out, the notice,
    the sender's new posting status) is one transaction.
    """
    if action not in ACTIONS:
        raise ModerationError(f"unknown action {action!r}: use {', '.join(ACTIONS)}")
    editing = subject is not None or body is not None
    if editing and not action.startswith("approve"):
        raise ModerationError("only an approval can carry an edited message")
    if action.startswith("approve"):
        group = Group.objects.filter(held_messages__pk=held_id).first()
        if group is not None and policy.suspension(group):
            raise ModerationError(policy.suspension(group))
    now = timezone.now()
    with transaction.atomic():
        current = (HeldMessage.objects.filter(pk=held_id)
                   .values("state", "raw", "membership_id").first())
        if current is None:
            raise ModerationError(f"no held message {held_id}")
        if action == "approve_unmoderate" and current["membership_id"] is None:
            raise ModerationError("the sender is not a member, so there is no posting status "
                                  "to change; approve it alone")
        changes: dict = {"state": _STATE[action], "decided_at": now,
                         "decided_by": moderator[:320], "decision_reason": reason}
        if editing:
            changes["edited_raw"] = heldedit.edited_message(
                bytes(current["raw"]), subject or "", body or "")
        taken = HeldMessage.objects.filter(pk=held_id, state=HeldMessage.State.PENDING
                                           ).update(**changes)
        if not taken:
            raise ModerationError(f"held message {held_id} is already {current['state']}")
        held = HeldMessage.objects.select_related("group", "membership").get(pk=held_id)
        entry = activitylog.record(
            held.group, actor=moderator, verb="approve_edited" if editing else _VERB[action],
            target=held.sender_email, detail={"subject": held.subject, "reason": reason}
            if reason else {"subject": held.subject})
        if action == "discard":
            webhookevents.message_decided(held, action, moderator, reason)
            return outcomes.dropped(f"discarded by {moderator}")
        if action == "reject":
            notices.message_rejected(held, reason)
            webhookevents.message_decided(held, action, moderator, reason)
            return outcomes.rejected(reason or "rejected by a moderator")
        raw = bytes(held.edited_raw) if held.edited_raw is not None else bytes(held.raw)
        parsed = mailparse.parse(raw, msgid_domain=settings.GROUPS_DOMAIN)
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
        entry.detail["number"] = message.number
        if editing:
            entry.detail["subject"] = [held.subject, parsed.subject]
        entry.save(update_fields=["detail"])
        webhookevents.message_decided(held, action, moderator, reason, message.number)
        if held.membership_id:
            from django.db.models import F

            Membership.objects.filter(pk=held.membership_id).update(
                approved_posts=F("approved_posts") + 1)
            if action == "approve_unmoderate":
                membership_actions.set_posting_status(
                    held.membership_id, Membership.PostingStatus.OVERRIDE, actor=moderator)
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
            held = HeldMessage.objects.select_related("group").get(pk=held_id)
            activitylog.record(held.group, actor=activitylog.SYSTEM, verb="expire_message",
                               target=held.sender_email, detail={"subject": held.subject})
            notices.message_expired(held)
            expired += 1
    return expired
