"""Mail to ``bounce+TOKEN@``: bounces and spam complaints about one member's copy.

Every copy we send has its own VERP envelope sender whose token names the
membership and the message number under an HMAC. That token is the
authority on *who* bounced: a bounce's own text is often wrong about the
address (forwarding, aliases, rewritten recipients), so the parsed address
only confirms. A token that does not verify is dropped silently: answering
it would tell a forger what works, and recording it would let anybody
unsubscribe our members.

What counts: real failures (hard or soft) become a BounceEvent and the
member's bounce score (bounces_score), which cronjobs.bouncer acts on;
delay warnings, auto-replies and "delivered" reports never count. An ARF
complaint (RFC 5965) means the member called our mail spam: they are
removed at once and sent a signed link that restores the membership for
three days (the website's ``restore_membership`` view, or ``restore_membership``
here). An auth-failure report (DKIM/SPF failed somewhere) is about our
mail, not the member's wish, and removes nobody.

This module must never raise on what a bounce contains: anything it can't
use is dropped with a reason.
"""

from __future__ import annotations

import logging

from django.db import transaction

from groups import links, tokens
from groups.models import BounceEvent, Group, Membership
from messageserver import bounces_score, notices, outcomes
from messageserver.addresses import Destination
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome

log = logging.getLogger(__name__)

RESTORE_DAYS = 3
COUNTED = ("hard", "soft")
# Feedback types that are reports about our mail, not the member's wish to stop it.
NOT_A_MEMBER_COMPLAINT = ("auth-failure", "not-spam")


def member_for_token(token: str) -> tuple[Membership, int] | None:
    """The membership and message number a VERP token names, or None when forged/stale."""
    try:
        parts = tokens.check(tokens.BOUNCE, token)
        membership_id, number = int(parts[0]), int(parts[1])
    except (tokens.BadToken, ValueError, IndexError):
        return None
    membership = Membership.objects.select_related("group").filter(pk=membership_id).first()
    if membership is None:
        return None
    return membership, number


def _parse(raw: bytes):  # noqa: ANN202 - the parser's BounceReport
    from messageserver.bounces import parse_bounce

    return parse_bounce(raw)


def handle_bounce(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    found = member_for_token(dest.token)
    if found is None:
        log.info("bounce with an invalid token dropped (from %r)", inbound.mail_from)
        return outcomes.dropped("bounce address token is forged, stale or malformed")
    membership, number = found
    try:
        report = _parse(inbound.raw)
    except Exception as exc:  # a parser failure must not lose the member's record silently
        log.exception("bounce parser failed on mail for membership %s", membership.pk)
        return outcomes.dropped(f"bounce could not be parsed: {type(exc).__name__}")
    kind = getattr(report, "kind", "none")
    if kind == "complaint":
        return complaint(membership, inbound, report)
    if kind != "bounce":
        return outcomes.dropped(f"not a failure ({kind}): nothing recorded")
    return record_bounce(membership, number, inbound, report)


def _matching_recipient(membership: Membership, recipients: list) -> tuple[object | None, bool]:
    """The report's entry for this member: (entry, whether its address confirms the token)."""
    for rcpt in recipients:
        if (getattr(rcpt, "address", "") or "").lower() == membership.email:
            return rcpt, True
    failed = [r for r in recipients if getattr(r, "kind", None) in COUNTED]
    return (failed[0] if failed else (recipients[0] if recipients else None)), False


def record_bounce(membership: Membership, number: int, inbound: InboundMail,
                  report: object) -> Outcome:
    """One BounceEvent for the member the token names, and their bounce score."""
    recipients = list(getattr(report, "recipients", []) or [])
    rcpt, confirmed = _matching_recipient(membership, recipients)
    kind = getattr(rcpt, "kind", None) if rcpt is not None else None
    if kind not in COUNTED:
        kind = "soft"  # a failure of unknown weight: count it, but lightly
    status = (getattr(rcpt, "status", "") or "") if rcpt is not None else ""
    diagnostic = (getattr(rcpt, "diagnostic", "") or "") if rcpt is not None else ""
    parsed_address = (getattr(rcpt, "address", "") or "") if rcpt is not None else ""
    if parsed_address and not confirmed:
        diagnostic = f"[report names {parsed_address}] {diagnostic}"
    with transaction.atomic():
        BounceEvent.objects.create(
            membership=membership, at=inbound.now, kind=kind, status=str(status)[:16],
            diagnostic=diagnostic[:2000], source="probe" if number == 0 else "dsn",
            message_number=number or None)
        bounces_score.note_bounce(membership, kind, inbound.now)
    log.info("bounce (%s %s) recorded for %s in %s, message %s", kind, status,
             membership.email, membership.group.name, number)
    return outcomes.accepted(reason=f"{kind} bounce recorded for membership {membership.pk}")


def complaint(membership: Membership, inbound: InboundMail, report: object) -> Outcome:
    """A spam complaint: remove the member now, and send the 3-day restore link."""
    group = membership.group
    feedback = getattr(report, "complaint", None)
    feedback_type = (getattr(feedback, "feedback_type", "") or "abuse").lower()
    if feedback_type in NOT_A_MEMBER_COMPLAINT:
        return outcomes.dropped(f"{feedback_type} feedback report: not a member's complaint")
    with transaction.atomic():
        removed = Membership.objects.filter(
            pk=membership.pk, status=Membership.Status.ACTIVE).update(
            status=Membership.Status.REMOVED)
        if not removed:
            return outcomes.dropped("complaint about a membership that is not active")
        membership.status = Membership.Status.REMOVED
        notices.send("complaint_removed", group, membership.email,
                     f"complaint removal of {membership.email}",
                     membership=membership,
                     restore_url=links.restore_membership_url(membership.pk, RESTORE_DAYS),
                     restore_days=RESTORE_DAYS,
                     feedback_type=feedback_type)
    log.info("spam complaint: %s removed from %s", membership.email, group.name)
    return outcomes.accepted(reason=f"complaint: membership {membership.pk} removed")


def restore_membership(membership_id: int) -> bool:
    """Undo a complaint removal (what the restore link's view does on POST).

    Only a membership that is still "removed" comes back, so a link can't
    re-activate someone who was banned or left since. Returns whether it did.
    """
    return bool(Membership.objects.filter(
        pk=membership_id, status=Membership.Status.REMOVED).update(
        status=Membership.Status.ACTIVE, bounce_state=Membership.BounceState.OK))
