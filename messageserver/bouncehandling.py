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
three days (membership_actions.remove_for_complaint and membership_actions.restore). An auth-failure report (DKIM/SPF failed somewhere) is about our
mail, not the member's wish, and removes nobody.

Each report is acted on once: its own Message-ID (else a hash of its bytes)
is recorded as a ProcessedReport in the same transaction as what it caused,
so an MTA's redelivery of the same report neither counts a bounce twice nor
removes again a member who has restored their membership since.

This module must never raise on what a bounce contains: anything it can't
use is dropped with a reason.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from groups import tokens
from groups.models import BounceEvent, Group, Membership, ProcessedReport
from messageserver import bounces_score, membership_actions, outcomes, webhookevents
from messageserver.addresses import Destination
from messageserver.bounces import BounceReport, parse_bounce
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome

log = logging.getLogger(__name__)

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


def _parse(raw: bytes) -> BounceReport:
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


def report_key(inbound: InboundMail) -> str:
    """What names this report across redeliveries: its Message-ID, else a hash of its bytes
    (also when the Message-ID is too long or holds control characters to store as text)."""
    mid = inbound.parsed.message_id
    if mid and len(mid) <= 500 and mid.isprintable():
        return mid
    return "sha256:" + hashlib.sha256(inbound.raw).hexdigest()


# How long a processed report is remembered. MTAs give up redelivering within
# days (Postfix's maximal_queue_lifetime is 5 days); a month is ample.
REPORT_MEMORY = timedelta(days=30)


def forget_old_reports(now: datetime) -> int:
    """Drop ProcessedReport rows no redelivery can need any more (run by housekeeping)."""
    deleted, _ = ProcessedReport.objects.filter(at__lt=now - REPORT_MEMORY).delete()
    return deleted


def first_delivery(membership: Membership, inbound: InboundMail, kind: str) -> bool:
    """Record the report as processed for this member; False when it already was.

    Call it inside the transaction that acts on the report, so the record and
    the action commit together (the unique row is also what makes two copies
    processed at the same moment count once).
    """
    return remember(membership, report_key(inbound), kind, inbound.now)


def remember(membership: Membership, report_id: str, kind: str, at: datetime) -> bool:
    """Record ``report_id`` as acted on for this member; False when it already was.

    The one rule for "act on a report once", shared by bounce mail and Karl's
    delivery events (messageserver.deliveryevents): call it inside the
    transaction that acts, so the record and the action commit together.
    """
    try:
        with transaction.atomic():
            ProcessedReport.objects.create(membership=membership, report_id=report_id,
                                           kind=kind, at=at)
    except IntegrityError:
        log.info("%s %s for %s seen before: a redelivery, ignored", kind, report_id,
                 membership.email)
        return False
    return True


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
        if not first_delivery(membership, inbound, "bounce"):
            return outcomes.dropped("this bounce was already counted (a redelivery)")
        BounceEvent.objects.create(
            membership=membership, at=inbound.now, kind=kind, status=str(status)[:16],
            diagnostic=diagnostic[:2000], source="probe" if number == 0 else "dsn",
            message_number=number or None)
        bounces_score.note_bounce(membership, kind, inbound.now)
        webhookevents.bounce(membership, kind, str(status)[:16], diagnostic, number or None)
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
        if not first_delivery(membership, inbound, "complaint"):
            return outcomes.dropped("this complaint was already acted on (a redelivery)")
        if membership_actions.remove_for_complaint(membership, feedback_type) is None:
            return outcomes.dropped("complaint about a membership that is not active")
    log.info("spam complaint: %s removed from %s", membership.email, group.name)
    return outcomes.accepted(reason=f"complaint: membership {membership.pk} removed")
