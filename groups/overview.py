"""The numbers behind the owner's overview: messages per day, members over time,
bounces per week, for the last year.

Members over time is read backwards from today's count through the activity
log's status changes (each entry says the status before and after): a change
from before the log existed is not known, so the line stays flat before the
first logged change rather than guessing.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from groups.models import ActivityEntry, BounceEvent, Group, Membership, Message

DAYS = 365
WEEKS = 52
ACTIVE = Membership.Status.ACTIVE


def _start(today: date, days: int) -> datetime:
    return timezone.make_aware(datetime.combine(today - timedelta(days=days - 1), time.min))


def messages_per_day(group: Group, today: date | None = None) -> list[tuple[date, int]]:
    """Messages archived on each of the last 365 days (today last)."""
    today = today or timezone.localdate()
    counts = dict(Message.objects.filter(group=group, created_at__gte=_start(today, DAYS))
                  .annotate(day=TruncDate("created_at")).values("day")
                  .annotate(n=Count("id")).values_list("day", "n"))
    return [(d, counts.get(d, 0)) for d in
            (today - timedelta(days=DAYS - 1 - i) for i in range(DAYS))]


def _week_ends(today: date) -> list[date]:
    return [today - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]


def _delta(verb: str, detail: dict) -> int:
    """+1 when an entry made someone an active member, -1 when it ended that, else 0."""
    if verb == "add":
        return 1
    status = detail.get("status") if isinstance(detail, dict) else None
    if not isinstance(status, list) or len(status) != 2:
        return 0
    before, after = status
    return (after == ACTIVE) - (before == ACTIVE)


def members_over_time(group: Group, today: date | None = None) -> list[tuple[date, int]]:
    """Active members at the end of each of the last 52 weeks (today last)."""
    today = today or timezone.localdate()
    now_count = Membership.objects.filter(group=group, status=ACTIVE).count()
    ends = _week_ends(today)
    changes = [(timezone.localdate(at), _delta(verb, detail)) for at, verb, detail in
               ActivityEntry.objects.filter(group=group, at__gte=_start(ends[0], 1))
               .exclude(verb__in=("set_delivery", "member_sets_delivery", "set_posting_status",
                                  "set_role", "invite"))
               .values_list("at", "verb", "detail")]
    out = []
    for end in ends:
        later = sum(d for day, d in changes if day > end)
        out.append((end, max(now_count - later, 0)))
    return out


def bounces_per_week(group: Group, today: date | None = None) -> list[tuple[date, int]]:
    """Bounces (BounceEvent rows) in each of the last 52 weeks, by the week's last day."""
    today = today or timezone.localdate()
    ends = _week_ends(today)
    first = ends[0] - timedelta(days=6)
    per_day = (BounceEvent.objects.filter(membership__group=group, at__gte=_start(first, 1))
               .annotate(day=TruncDate("at")).values("day").annotate(n=Count("id"))
               .values_list("day", "n"))
    weeks: Counter[date] = Counter()
    for day, n in per_day:
        index = min((today - day).days // 7, WEEKS - 1)
        weeks[ends[WEEKS - 1 - index]] += n
    return [(end, weeks.get(end, 0)) for end in ends]
