"""Scheduled work: senddigests, bouncer, expirethreads, rsscrawler, and the Celery app.

Each job is, in order of importance, a plain function that takes the clock
(``now``) and is idempotent (digests.py, bouncer.py, expirethreads.py,
rsscrawler.py), a management command (groups/management/commands/), and a
Celery task (tasks.py) on the app and beat schedule in celeryapp.py;
``python -m cronjobs.scheduler`` runs beat and a worker in one process.

Site settings (environment, strictly parsed; see config.py): DIGEST_EARLY_MESSAGES
(12), DIGEST_MAX_MESSAGES (100), DIGEST_DEFAULT_HOUR (0, UTC, members without an account),
DIGEST_CATCHUP_HOURS (1), BOUNCE_SOFT_MIN_DAYS (3), BOUNCE_SOFT_WINDOW_DAYS (8),
BOUNCE_PROBE_INTERVAL_DAYS (3), BOUNCE_PROBES_TO_REMOVE (4),
FEED_INTERVAL_MINUTES (30), FEED_MAX_BACKOFF_MINUTES (1440),
FEED_FAILURES_TO_REPORT (3), FEED_TIMEOUT_SECONDS (20), FEED_MAX_BYTES (5 MiB),
FEED_MAX_NEW_ENTRIES (20).
"""
