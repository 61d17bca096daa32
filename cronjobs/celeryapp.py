"""The platform's Celery app and its beat schedule.

The broker is REDIS_URL when set. With nothing configured it is kombu's
SQLAlchemy transport on a SQLite file in DATA_DIR (celery-broker.sqlite3), a
broker that needs no server, so `make run` runs beat and a worker on a fresh
machine (checked with beat + worker here: tasks flow at the default 1 s poll).
No result backend: every job records its own state in the database.

Late acks (a job cut short by a crash runs again): on Redis a message a
killed worker held goes back to the queue once it has been unacknowledged for
CELERY_VISIBILITY_TIMEOUT seconds (15 minutes by default, Celery's is an hour:
a digest job killed at the top of the hour must run again inside its one-hour
catch-up window). That must stay above the longest retry countdown (the
indexing task's backoff is at most 10 minutes), or held retries are handed out
twice; a job still running after that long is handed out a second time,
which is safe because every job is idempotent. The embedded SQLite broker
cannot give back what a killed worker held: there the next scheduled run
does the work (and indexing needs no worker at all).

Schedule (UTC; each job is idempotent, so a run repeated after a restart or a
crash sends nothing twice):
    senddigests    hourly, on the hour: each member's digest at their own local hour
    bouncer        daily at 04:00
    expirethreads  every 30 minutes
    rsscrawler     every 30 minutes (each feed also keeps its own next_check_at)
    housekeeping   hourly: expire held messages, send monthly guidelines reminders,
                   index recent messages the search index lacks (search.catchup)
    webhooks       every minute: webhook deliveries due (a retry's backoff ran out, or
                   the task queued after the event's commit was lost)
    eventreminders every 5 minutes: post the calendar reminders that are due
                   (groups/calendar.py; each occurrence's once) and close the polls
                   whose time is up, posting their results (groups/pollclosing.py)
    instagram      every 15 minutes: connected Instagram accounts' new media become posts
                   and photos (cronjobs/instagram.py)
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

from platformcore.env import env_int, get_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")

QUEUE = "groups-cronjobs"

SCHEDULE = {
    "senddigests-hourly": {"task": "cronjobs.senddigests", "schedule": crontab(minute=0)},
    "bouncer-daily": {"task": "cronjobs.bouncer", "schedule": crontab(minute=0, hour=4)},
    "expirethreads": {"task": "cronjobs.expirethreads", "schedule": crontab(minute="*/30")},
    "rsscrawler": {"task": "cronjobs.rsscrawler", "schedule": crontab(minute="15,45")},
    "housekeeping": {"task": "cronjobs.housekeeping", "schedule": crontab(minute=5)},
    "webhooks": {"task": "cronjobs.webhooks", "schedule": crontab(minute="*")},
    "eventreminders": {"task": "cronjobs.eventreminders", "schedule": crontab(minute="*/5")},
    "instagram": {"task": "cronjobs.instagram", "schedule": crontab(minute="*/15")},
}


def broker_url() -> str:
    """REDIS_URL, else the embedded SQLite broker in DATA_DIR."""
    env = get_env()
    if env.redis_url:
        return env.redis_url
    return f"sqla+sqlite:///{env.data_dir / 'celery-broker.sqlite3'}"


def transport_options(broker: str) -> dict[str, int]:
    """Redis: when unacknowledged messages go back to the queue, and how often that is checked.

    (The SQLAlchemy transport hands its options to create_engine, which refuses these.)
    """
    if not broker.startswith(("redis://", "rediss://", "redis+socket://")):
        return {}
    timeout = env_int("CELERY_VISIBILITY_TIMEOUT", 900, minimum=1)
    return {"visibility_timeout": timeout,
            # every sweep scans (no throttle), about ten times per timeout, at least once a minute
            "unacked_restore_throttle": 1,
            "unacked_restore_interval": max(1, min(60, timeout // 10))}


def make_app(broker: str | None = None, queue: str = QUEUE) -> Celery:
    """An app with the four jobs registered; tests pass their own broker and queue."""
    env = get_env()
    broker = broker or broker_url()
    app = Celery("groups", broker=broker, set_as_current=False,
                 include=["search.tasks"])
    app.conf.update(
        task_ignore_result=True,
        result_backend=None,
        timezone="UTC",
        enable_utc=True,
        task_default_queue=queue,
        task_acks_late=True,  # a job cut short by a crash runs again; it is idempotent
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(broker),
        beat_schedule={name: {**entry, "options": {"queue": queue}}
                       for name, entry in SCHEDULE.items()},
        beat_schedule_filename=str(env.data_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
    )
    from cronjobs import tasks

    tasks.register(app)
    return app


app = make_app()
