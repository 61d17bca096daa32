"""senddigests: each digest member gets the messages since their previous digest.

When: at the member's own hour in their own time zone (User.digest_hour and
User.time_zone; members without a web account get DIGEST_DEFAULT_HOUR in UTC,
midnight by default), and at any run once ``early_messages`` (12) have
gathered, so a busy day gives several. The daily summary goes out once a day,
at the member's hour, holding all.

Never a burst: a member gets at most one digest in any clock hour (UTC), and
it holds everything waiting, up to ``max_messages`` (100). After a scheduler
outage the first run sends each member one digest covering what they missed;
a longer backlog than that comes one such digest an hour, in order, nothing
skipped. Running the job again within the hour (by hand, or a second beat)
sends nothing new.

What: messages after Membership.digest_last_number (not deleted, not in
topics the member muted, not in topics tagged with a no-email hashtag). A
member's very first digest starts at the later of their joining and a day ago,
so switching an old membership to digest never mails the whole archive.

Idempotent: each digest is claimed per member with a conditional UPDATE of
digest_last_number (from the value it was planned from) and recorded as a
DigestRun (unique per member, kind and last number) in the same transaction
as the outbox job, so a second run, or two workers at once, send nothing twice.

Members who get identical digests share one Karl job; Karl adds each one's
footer, List-Unsubscribe and VERP sender, exactly as for posts. "Identical"
includes the words: a digest is written in its member's language and shows times
in their time zone (groups.languages), so members share a job only when those agree.
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cronjobs import digestmime
from cronjobs.config import DigestSettings
from groups import languages, links
from groups.models import DigestRun, Group, Membership, Message, RawMessage, Topic, TopicPreference
from messageserver import outbox
from messageserver.fanout import bounce_address, list_headers, unsubscribe_header

log = logging.getLogger(__name__)

KIND_OF_DELIVERY = {
    Membership.Delivery.DIGEST: "digest",
    Membership.Delivery.PLAIN_DIGEST: "plain_digest",
    Membership.Delivery.SUMMARY: "summary",
}

# Karl fills in the {{ ... }} per recipient; the words are translated per batch.
DIGEST_FOOTER = gettext_noop("""\
-=-=-=-=-=-=-=-=-=-=-=-
You receive {{ group_name }} as a {{ digest_kind }}.
Group: {{ group_url }}
Group Owner: {{ owner_address }}
Unsubscribe: {{ unsubscribe_url }}
-=-=-=-=-=-=-=-=-=-=-=-
""")
KIND_WORDS = {"digest": gettext_noop("digest"), "plain_digest": gettext_noop("plain digest"),
              "summary": gettext_noop("daily summary")}


@dataclass
class Planned:
    """One digest for one member: from ``previous`` (exclusive) through ``numbers``."""

    membership: Membership
    kind: str
    previous: int
    numbers: list[int]
    reason: str  # "hour" or "early"


@dataclass
class DigestReport:
    planned: list[Planned] = field(default_factory=list)
    sent: list[Planned] = field(default_factory=list)
    jobs: int = 0

    def summary(self) -> str:
        return (f"{len(self.planned)} digests due, {len(self.sent)} sent to "
                f"{len({p.membership.id for p in self.sent})} members in {self.jobs} jobs")


def member_zone(m: Membership, cfg: DigestSettings) -> tuple[ZoneInfo, int]:
    """The member's time zone and local digest hour."""
    if m.user_id is None:
        return ZoneInfo("UTC"), cfg.default_hour
    try:
        zone = ZoneInfo(m.user.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("user %s has unknown time zone %r; using UTC", m.user_id, m.user.time_zone)
        zone = ZoneInfo("UTC")
    return zone, min(max(int(m.user.digest_hour), 0), 23)


def reader_locale(m: Membership, cfg: DigestSettings) -> tuple[str, str]:
    """The language and time zone (name) the member's digest is written in."""
    zone, _hour = member_zone(m, cfg)
    return languages.of_user(m.user) or settings.LANGUAGE_CODE, zone.key


def slot_start(now: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The latest moment at or before ``now`` that was ``hour`` o'clock in ``zone`` (UTC)."""
    local = now.astimezone(zone)
    slot = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if slot > local:
        slot = datetime.combine(local.date() - timedelta(days=1), time(hour), tzinfo=zone)
    return slot.astimezone(UTC)


def at_their_hour(m: Membership, now: datetime, cfg: DigestSettings) -> bool:
    """Is it the member's hour, and has this hour's digest not gone out yet?"""
    zone, hour = member_zone(m, cfg)
    slot = slot_start(now, zone, hour)
    if now - slot >= timedelta(hours=cfg.catchup_hours):
        return False
    return m.digest_last_sent_at is None or m.digest_last_sent_at < slot


def _sent_this_hour(m: Membership, now: datetime) -> bool:
    """Did the member get a digest in this clock hour already (the one-an-hour rule)?"""
    last = m.digest_last_sent_at
    return last is not None and last.timestamp() // 3600 == now.timestamp() // 3600


def due_numbers(m: Membership, kind: str, waiting: list[int], now: datetime,
                cfg: DigestSettings) -> tuple[list[int], str]:
    """The messages of the one digest due to the member now, and why ("hour"/"early")."""
    if _sent_this_hour(m, now):
        return [], ""
    if at_their_hour(m, now, cfg):
        return (waiting if kind == "summary" else waiting[:cfg.max_messages]), "hour"
    if kind != "summary" and len(waiting) >= cfg.early_messages:
        return waiting[:cfg.max_messages], "early"
    return [], ""


def _digest_members(group: Group | None) -> list[Membership]:
    qs = Membership.objects.filter(status=Membership.Status.ACTIVE,
                                   delivery__in=list(KIND_OF_DELIVERY),
                                   bounce_state=Membership.BounceState.OK)
    if group is not None:
        qs = qs.filter(group=group)
    return list(qs.select_related("user", "group").order_by("group_id", "id"))


def _plan_group(group: Group, members: list[Membership], now: datetime,
                cfg: DigestSettings) -> list[Planned]:
    """Every digest due in one group, in a constant number of queries."""
    since = min(m.digest_last_number for m in members)
    rows = list(Message.objects.filter(group=group, deleted=False, number__gt=since)
                .order_by("number").values_list("number", "topic_id", "created_at"))
    if not rows:
        return []
    silent = set(Topic.objects.filter(group=group, hashtags__no_email=True)
                 .values_list("id", flat=True))
    muted: dict[int, set[int]] = defaultdict(set)
    for mid, tid in TopicPreference.objects.filter(
            membership__in=members, mode=TopicPreference.Mode.MUTE).values_list(
            "membership_id", "topic_id"):
        muted[mid].add(tid)
    planned = []
    for m in members:
        start_time = None
        if m.digest_last_number == 0 and m.digest_last_sent_at is None:
            start_time = max(m.joined_at, now - timedelta(days=1))
        numbers = [n for n, tid, created in rows
                   if n > m.digest_last_number and tid not in silent and tid not in muted[m.id]
                   and (start_time is None or created >= start_time) and created <= now]
        if not numbers:
            continue
        kind = KIND_OF_DELIVERY[m.delivery]
        due, reason = due_numbers(m, kind, numbers, now, cfg)
        if due:
            planned.append(Planned(m, kind, m.digest_last_number, due, reason))
    return planned


def plan(now: datetime, cfg: DigestSettings | None = None,
         group: Group | None = None) -> list[Planned]:
    """The digests due at ``now`` (nothing is changed)."""
    cfg = cfg or DigestSettings.from_env()
    by_group: dict[int, list[Membership]] = defaultdict(list)
    for m in _digest_members(group):
        by_group[m.group_id].append(m)
    planned = []
    for members in by_group.values():
        planned.extend(_plan_group(members[0].group, members, now, cfg))
    return planned


def _claim(p: Planned, now: datetime) -> bool:
    """Take this digest for sending: False if another run already did."""
    m = p.membership
    try:
        with transaction.atomic():
            if not Membership.objects.filter(pk=m.pk, digest_last_number=p.previous).update(
                    digest_last_number=p.numbers[-1], digest_last_sent_at=now):
                return False
            DigestRun.objects.create(membership=m, kind=p.kind, first_number=p.numbers[0],
                                     last_number=p.numbers[-1], sent_at=now)
    except IntegrityError:
        return False
    return True


def job_for(group: Group, kind: str, raw: bytes, members: list[Membership],
            last_number: int) -> dict[str, Any]:
    """The Karl job delivering one digest to ``members``: List headers, VERP, footer."""
    common = {"group_name": group.name, "group_title": group.display_title,
              "group_url": links.group_url(group.name), "owner_address": group.address("owner"),
              "digest_kind": _(KIND_WORDS[kind]), "number": last_number}
    return {
        "message_b64": base64.b64encode(raw).decode("ascii"),
        "mail_from": f"bounce@{settings.GROUPS_DOMAIN}",
        "headers": list_headers(group),
        "footer": {"text": _(DIGEST_FOOTER)},
        "recipients": [{
            "address": m.email,
            "mail_from": bounce_address(m.id, last_number),
            "headers": [["List-Unsubscribe", unsubscribe_header(group, m.id)]],
            "vars": {**common, "name": m.name, "email": m.email,
                     "unsubscribe_url": links.unsubscribe_url(m.id)},
        } for m in members],
        "dkim": True,
        "events": ["bounced", "expired"],
        "meta": {"group": group.name, "kind": kind, "number": last_number},
    }


def _load(group: Group, numbers: list[int]) -> tuple[list[Message], dict[int, bytes]]:
    messages = list(Message.objects.filter(group=group, number__in=numbers)
                    .select_related("topic").prefetch_related("attachments")
                    .order_by("number"))
    raws = {n: bytes(data) for n, data in RawMessage.objects.filter(
        message__group=group, message__number__in=numbers).values_list("message__number",
                                                                       "data")}
    return messages, raws


def send_digests(now: datetime, cfg: DigestSettings | None = None, group: Group | None = None,
                 dry_run: bool = False) -> DigestReport:
    """Send every digest due at ``now``; run it hourly (and as often as you like)."""
    cfg = cfg or DigestSettings.from_env()
    report = DigestReport(planned=plan(now, cfg, group))
    if dry_run:
        return report
    batches: dict[tuple[int, str, tuple[int, ...], str, str], list[Planned]] = \
        defaultdict(list)
    for p in report.planned:
        language, zone = reader_locale(p.membership, cfg)
        batches[(p.membership.group_id, p.kind, tuple(p.numbers), language, zone)].append(p)
    for (_gid, kind, numbers, language, zone), items in sorted(
            batches.items(), key=lambda kv: (kv[0][0], kv[0][2][0], kv[0][3], kv[0][4])):
        grp = items[0].membership.group
        messages, raws = _load(grp, list(numbers))
        if not messages:
            continue
        with translation.override(language), timezone.override(ZoneInfo(zone)):
            raw = digestmime.build(kind, grp, messages, raws, now)
            with transaction.atomic():
                claimed = [p for p in items if _claim(p, now)]
                if not claimed:
                    continue
                job = job_for(grp, kind, raw, [p.membership for p in claimed], numbers[-1])
                outbox.enqueue("job", job, description=f"{grp.name} {kind} #{numbers[0]}-"
                                                       f"#{numbers[-1]} to {len(claimed)}")
        report.sent.extend(claimed)
        report.jobs += 1
    if report.sent:
        log.info("senddigests: %s", report.summary())
    return report
