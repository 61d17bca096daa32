"""Closing polls: when a poll's time is up, mark it closed and post its results to its
topic (a reply from the poll's author, or an owner, through messageserver)."""

from __future__ import annotations

from datetime import datetime

from groups import activitylog
from groups.models import Membership, Poll
from messageserver import polls


def _poster(poll: Poll) -> str:
    rows = Membership.objects.filter(group=poll.group, status=Membership.Status.ACTIVE)
    mine = rows.filter(user_id=poll.created_by_id).values_list("email", flat=True).first()
    return mine or rows.filter(role=Membership.Role.OWNER).values_list(
        "email", flat=True).first() or ""


def close_due(now: datetime) -> str:
    """Close each poll past its time once (the mark first: never two results posts)."""
    from messageserver.client import MessageServerClient

    closed = 0
    for poll in Poll.objects.filter(closed_at__isnull=True, closes_at__lte=now,
                                    topic__isnull=False).select_related("group", "topic"):
        if not Poll.objects.filter(pk=poll.pk, closed_at__isnull=True).update(closed_at=now):
            continue
        activitylog.record(poll.group, actor=activitylog.SYSTEM, verb="poll_closed",
                           target=poll.question)
        first = poll.topic.first_message
        MessageServerClient().post(
            poll.group.name, _poster(poll), f"Re: {poll.topic.subject}",
            polls.results_text(poll), reply_to_number=first.number if first else None)
        closed += 1
    return f"{closed} poll{'s' if closed != 1 else ''} closed"
