"""`python -m cronjobs.scheduler`: the platform's "scheduler" process, beat and a worker in one.

It runs a Celery worker with embedded beat (-B) on the app's broker (REDIS_URL,
else the embedded SQLite broker), so one supervised process runs the whole
schedule. The worker uses the solo pool: jobs run one at a time, which keeps
SQLite writers few; scale out by running more workers against Redis.

Beat and any pool processes die with this process (platformcore.proctree): a beat
left running after a kill would share the schedule with the next one and
queue every job twice. Failed tasks are reported to errord. ``--run-now``
also queues every job once at start (they are idempotent), which is how a
fresh machine or a test sees them run without waiting for the clock.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cronjobs.scheduler", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-now", action="store_true",
                        help="queue every scheduled job once when the worker is ready")
    parser.add_argument("--loglevel", default="INFO", help="log level (default INFO)")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from celery import signals

    from cronjobs.celeryapp import SCHEDULE, app, broker_url
    from errord.install import install_celery

    install_celery(service="scheduler")
    tie_children_to(os.getpid())
    log = logging.getLogger("cronjobs.scheduler")
    safe_broker = broker_url().split("@")[-1]  # never print a password
    log.info("scheduler: beat and worker on %s", safe_broker)

    if args.run_now:
        @signals.worker_ready.connect(weak=False)
        def _run_all(sender=None, **kwargs):  # noqa: ANN001
            # the scheduled jobs (not the tasks queued with an argument, such as one
            # webhook delivery)
            for name in dict.fromkeys(entry["task"] for entry in SCHEDULE.values()):
                app.send_task(name)
            log.info("scheduler: queued every job once (--run-now)")

    beat_schedule = app.conf.beat_schedule_filename
    app.worker_main(["worker", "--beat", "--pool=solo", f"--loglevel={args.loglevel}",
                     f"--schedule={beat_schedule}", "--without-gossip", "--without-mingle",
                     f"--hostname=scheduler@{os.uname().nodename}"])
    return 0


def tie_children_to(parent: int) -> None:
    """Embedded beat and prefork pool processes (forked by Celery) die when ``parent`` dies."""
    from celery import signals

    from platformcore.proctree import die_with_parent

    def _tie(**kwargs: object) -> None:
        if os.getpid() != parent:  # the solo pool sends worker_process_init in the parent
            die_with_parent(parent)

    signals.beat_embedded_init.connect(_tie, weak=False)
    signals.worker_process_init.connect(_tie, weak=False)


if __name__ == "__main__":
    sys.exit(main())
