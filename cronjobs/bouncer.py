"""bouncer: members whose mail bounces stop getting it, are probed, and are removed or restored.

The state machine (Groups.io's defaults, each a site setting in BounceSettings):

    ok --(one hard bounce, or soft bounces on soft_min_days distinct days
          within soft_window_days)--> bouncing (fan-out and digests skip them)
    bouncing: a probe goes out at once and every probe_interval_days
    bouncing --(a probe is delivered: membership_actions.probe_delivered())--> ok,
              record cleared
    bouncing --(probes_to_remove probes bounced, or that many went out and the
                last one's interval passed without a delivery)--> removed,
                and the member and the owners are told

Bounces are the BounceEvent rows messageserver writes (parsed DSNs and Karl's
events); only those since the member's record was last cleared count
(Membership.first_bounce_at marks the start, bounces_score.note_bounce sets it).

A probe is a one-recipient Karl job whose VERP token names the member and
message number 0, asking Karl to report "sent". Each probe is recorded as a
DigestRun of kind "probe" (numbered per member, unique), which makes sending
it idempotent and gives each probe's time, so a bounce is credited to the
probe it followed. The clock is always passed in: tests drive weeks of it.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from cronjobs.config import BounceSettings
from groups import links
from groups.models import BounceEvent, DigestRun, Membership
from messageserver import membership_actions, notices, outbox
from messageserver.fanout import bounce_address

log = logging.getLogger(__name__)

PROBE = "probe"  # DigestRun.kind of a probe record


@dataclass
class BounceReport:
    marked: list[str] = field(default_factory=list)
    probed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.marked)} marked bouncing, {len(self.probed)} probed, "
                f"{len(self.removed)} removed, {len(self.cleared)} old bounce records cleared")


def _label(m: Membership) -> str:
    return f"{m.email} in {m.group.name}"


def should_bounce(m: Membership, now: datetime, cfg: BounceSettings) -> str:
    """Why this member should now be marked bouncing, or "" if not (yet)."""
    if m.first_bounce_at is None:
        return ""
    since = max(m.first_bounce_at, now - timedelta(days=cfg.soft_window_days))
    events = list(BounceEvent.objects.filter(membership=m, at__gte=since, at__lte=now)
                  .values_list("kind", "at"))
    if any(kind == "hard" for kind, _ in events):
        return "a hard bounce"
    days = {at.date() for kind, at in events}
    if len(days) >= cfg.soft_min_days:
        return f"soft bounces on {len(days)} days within {cfg.soft_window_days} days"
    return ""


_CLEAR = {"bounce_score": 0, "first_bounce_at": None, "last_bounce_at": None}


def _check_ok_member(m: Membership, now: datetime, cfg: BounceSettings,
                     report: BounceReport) -> None:
    reason = should_bounce(m, now, cfg)
    if reason:
        marked = membership_actions.mark_bouncing(m, now)
        if marked is not None:
            log.info("bouncer: %s is bouncing (%s); delivery stopped", _label(m), reason)
            report.marked.append(_label(m))
            _check_bouncing_member(marked, now, cfg, report)
        return
    last = m.last_bounce_at or m.first_bounce_at
    if last is not None and last < now - timedelta(days=cfg.soft_window_days):
        # a few soft bounces long ago: forget them, a new episode starts afresh
        if Membership.objects.filter(pk=m.pk, bounce_state=Membership.BounceState.OK,
                                     last_bounce_at=m.last_bounce_at).update(**_CLEAR):
            report.cleared.append(_label(m))


def probes_of(m: Membership) -> list[DigestRun]:
    """The probes of the member's current bouncing episode, oldest first."""
    return list(DigestRun.objects.filter(membership=m, kind=PROBE,
                                         sent_at__gte=m.bouncing_since).order_by("sent_at", "id"))


def bounced_probes(m: Membership, probes: list[DigestRun], now: datetime) -> int:
    """How many probes drew a bounce before the next probe went out."""
    if not probes:
        return 0
    times = list(BounceEvent.objects.filter(membership=m, at__gte=probes[0].sent_at,
                                            at__lte=now).values_list("at", flat=True))
    count = 0
    for i, probe in enumerate(probes):
        end = probes[i + 1].sent_at if i + 1 < len(probes) else now
        if any(probe.sent_at <= at <= end for at in times):
            count += 1
    return count


def _check_bouncing_member(m: Membership, now: datetime, cfg: BounceSettings,
                           report: BounceReport) -> None:
    probes = probes_of(m)
    bounced = bounced_probes(m, probes, now)
    interval = timedelta(days=cfg.probe_interval_days)
    last = probes[-1].sent_at if probes else None
    if bounced >= cfg.probes_to_remove or (
            len(probes) >= cfg.probes_to_remove and now - last >= interval):
        _remove(m, now, len(probes), bounced, report)
    elif last is None or now - last >= interval:
        send_probe(m, now, len(probes) + 1, report)


def send_probe(m: Membership, now: datetime, nth: int, report: BounceReport) -> bool:
    """Queue probe ``nth`` of this episode (once: a second call for the same probe is a no-op)."""
    seq = DigestRun.objects.filter(membership=m, kind=PROBE).count() + 1
    group = m.group
    subject, body = notices.render("probe", group, {
        "group": group, "membership": m, "nth": nth,
        "restore_url": links.restore_membership_url(m),
        "group_url": links.group_url(group.name)}, reader=m.email)
    msg = notices.build(group, [m.email], subject, body)
    verp = bounce_address(m.id, 0)
    job = {
        "message_b64": base64.b64encode(msg.as_bytes()).decode("ascii"),
        "mail_from": verp,
        "recipients": [{"address": m.email, "mail_from": verp}],
        "dkim": True,
        "events": ["sent", "bounced", "expired"],
        "meta": {"kind": "probe", "group": group.name, "number": 0, "membership": m.id,
                 "probe": nth},
    }
    try:
        with transaction.atomic():
            DigestRun.objects.create(membership=m, kind=PROBE, first_number=seq,
                                     last_number=seq, sent_at=now)
            Membership.objects.filter(pk=m.pk).update(probes_sent=nth, last_probe_at=now)
            outbox.enqueue("job", job, description=f"{group.name}: bounce probe {nth} to "
                                                   f"{m.email}")
    except IntegrityError:
        return False  # another run sent this probe
    report.probed.append(_label(m))
    return True


def _remove(m: Membership, now: datetime, probes: int, bounced: int,
            report: BounceReport) -> None:
    if membership_actions.remove_for_bouncing(m, probes=probes, bounced=bounced) is None:
        return
    log.info("bouncer: removed %s after %d probes (%d bounced)", _label(m), probes, bounced)
    report.removed.append(_label(m))


def run_bouncer(now: datetime, cfg: BounceSettings | None = None) -> BounceReport:
    """One daily pass over every member with a bounce record or in the bouncing state."""
    cfg = cfg or BounceSettings.from_env()
    report = BounceReport()
    active = Membership.objects.filter(status=Membership.Status.ACTIVE).select_related("group")
    for m in active.filter(bounce_state=Membership.BounceState.OK,
                           first_bounce_at__isnull=False).order_by("id"):
        _check_ok_member(m, now, cfg, report)
    for m in active.filter(bounce_state=Membership.BounceState.BOUNCING,
                           bouncing_since__isnull=False).order_by("id"):
        if _label(m) in report.marked:
            continue  # probed a moment ago
        _check_bouncing_member(m, now, cfg, report)
    if report.marked or report.probed or report.removed:
        log.info("bouncer: %s", report.summary())
    return report
