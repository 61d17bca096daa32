"""The scheduled jobs as Celery tasks: a thin edge that reads the clock and calls the job.

Every job is a plain function in its own module (the clock passed in), a
management command, and a task here, in that order of importance. Tasks are
registered on whichever app asks (``register``), so the platform's app and a
test's app with another broker run the very same code. Results are ignored:
each job records its own state, which is what makes it safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

TASK_NAMES = {
    "senddigests": "cronjobs.senddigests",
    "bouncer": "cronjobs.bouncer",
    "expirethreads": "cronjobs.expirethreads",
    "rsscrawler": "cronjobs.rsscrawler",
    "housekeeping": "cronjobs.housekeeping",
    "webhooks": "cronjobs.webhooks",
    "webhook_deliver": "cronjobs.webhook_deliver",
    "eventreminders": "cronjobs.eventreminders",
    "instagram": "cronjobs.instagram",
}


def senddigests(group: str | None = None) -> str:
    from cronjobs.digests import send_digests
    from groups.models import Group

    target = Group.objects.get(name=group) if group else None
    return send_digests(timezone.now(), group=target).summary()


def bouncer() -> str:
    from cronjobs.bouncer import run_bouncer

    return run_bouncer(timezone.now()).summary()


def expirethreads() -> str:
    from cronjobs.expirethreads import expire_threads

    return expire_threads(timezone.now()).summary()


def rsscrawler(feed: int | None = None) -> str:
    from cronjobs.rsscrawler import crawl

    results = crawl(timezone.now(), feed_id=feed)
    posted = sum(len(r.posted) for r in results)
    failed = sum(r.status == "failed" for r in results)
    return f"{len(results)} feeds polled, {posted} entries posted, {failed} failed"


def housekeeping() -> str:
    from cronjobs.housekeeping import run_housekeeping

    return run_housekeeping(timezone.now())


def webhooks() -> str:
    from cronjobs.webhooks import sweep

    return sweep(timezone.now())


def webhook_deliver(delivery_id: int) -> str:
    """One delivery, at once (queued after the commit that wrote it); a failure waits for
    its backoff and the sweep."""
    from cronjobs.webhooks import deliver

    return deliver(delivery_id, timezone.now()).outcome


def eventreminders() -> str:
    """The group tools' timed mail: calendar reminders, and the results of closed polls."""
    from groups.calendar import send_reminders
    from groups.pollclosing import close_due

    now = timezone.now()
    return f"{send_reminders(now)}; {close_due(now)}"


def instagram() -> str:
    from cronjobs.instagram import crawl

    return crawl(timezone.now())


FUNCTIONS = {"senddigests": senddigests, "bouncer": bouncer, "expirethreads": expirethreads,
             "rsscrawler": rsscrawler, "housekeeping": housekeeping, "webhooks": webhooks,
             "webhook_deliver": webhook_deliver, "eventreminders": eventreminders,
             "instagram": instagram}


def register(app: Any) -> dict[str, Any]:
    """Register the jobs on ``app``; returns them by short name."""
    return {short: app.task(name=TASK_NAMES[short], ignore_result=True)(func)
            for short, func in FUNCTIONS.items()}
