"""Mail to ``bounce+TOKEN@``: bounces and spam complaints about one member's copy.

(A group with bulk delivery sends one copy for all with one return path whose
token names the group; its reports are matched to members by what they say:
``handle_group_bounce``. Everything below is about the VERP path.)

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
from groups.models import BounceEvent, Group, Membership, Message, ProcessedReport
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


def group_for_token(token: str) -> Group | None:
    """The group a bulk delivery's return path names (``tokens.GROUP_BOUNCE``), or None."""
    try:
        [group_id] = tokens.check(tokens.GROUP_BOUNCE, token)
        return Group.objects.filter(pk=int(group_id)).first()
    except (tokens.BadToken, ValueError):
        return None


def handle_bounce(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    found = member_for_token(dest.token)
    if found is None and (bulk_group := group_for_token(dest.token)) is not None:
        return handle_group_bounce(inbound, bulk_group)
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


def handle_group_bounce(inbound: InboundMail, group: Group) -> Outcome:
    """A report to a bulk-delivery group's one return path: the report says who failed.

    There is no VERP token naming the member, so the failed recipients the
    parser finds in the DSN (or the complaint's original recipients) are
    matched to the group's memberships by address; the message is found by
    the original Message-ID when the report quotes it. Each matched member is
    counted once per report, as on the VERP path (``record_bounce``); an
    address that is no member of the group is ignored, so a forged report
    can at worst count against members it names, as bounces do in Mailman.
    """
    try:
        report = _parse(inbound.raw)
    except Exception as exc:
        log.exception("bounce parser failed on mail for group %s", group.name)
        return outcomes.dropped(f"bounce could not be parsed: {type(exc).__name__}")
    kind = getattr(report, "kind", "none")
    if kind == "complaint":
        feedback = getattr(report, "complaint", None)
        named = list(getattr(feedback, "original_recipients", ()) or ())
    elif kind == "bounce":
        named = [getattr(r, "address", "") or "" for r in report.recipients]
    else:
        return outcomes.dropped(f"not a failure ({kind}): nothing recorded")
    members = list(Membership.objects.select_related("group").filter(
        group=group, email__in={a.strip().lower() for a in named if a}).order_by("id"))
    if not members:
        return outcomes.dropped(f"the report names no member of {group.name}")
    if kind == "complaint":
        done = [complaint(m, inbound, report) for m in members]
    else:
        number = _message_number(group, getattr(report, "original_message_id", None))
        done = [record_bounce(m, number, inbound, report) for m in members]
    counted = [o for o in done if o.kind == "accepted"]
    if not counted:
        return done[0]
    return outcomes.accepted(reason=f"{kind} recorded for {len(counted)} member(s) of "
                                    f"{group.name} (bulk delivery, matched by the report)")


def _message_number(group: Group, message_id: str | None) -> int | None:
    """The number of the post a report quotes (None when it quotes none we know)."""
    if not message_id:
        return None
    mid = message_id.strip()
    if not mid.startswith("<"):
        mid = f"<{mid}>"
    return (Message.objects.filter(group=group, message_id__in=[mid, mid.strip("<>")])
            .values_list("number", flat=True).first())


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


def record_bounce(membership: Membership, number: int | None, inbound: InboundMail,
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
