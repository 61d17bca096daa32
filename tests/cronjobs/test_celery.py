"""Each job as a Celery task on a real worker: against the real Redis, and on the embedded broker.

The worker runs in a thread of the test process (celery.contrib.testing), so
it shares the test database; results are ignored by design, so each test waits
for the job's effect in the database. The last test starts the real scheduler
process (beat + worker on the embedded broker) as the platform's supervisor does.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.utils import timezone

from cronjobs.celeryapp import make_app
from groups.membership import add_members
from groups.models import (
    BounceEvent,
    DigestRun,
    Feed,
    FeedEntry,
    Group,
    Hashtag,
    Membership,
    Topic,
)
from tests.conftest import CORPORA, in_ci
from tests.cronjobs.conftest import post
from tests.e2e.platform import MIGRATED

REDIS_URL = "redis://127.0.0.1:6379/0"
PROJECT = Path(__file__).resolve().parents[2]


def redis_or_skip() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as exc:
        if in_ci():
            pytest.fail(f"Redis at 127.0.0.1:6379 is unreachable, and CI requires it: {exc}")
        pytest.skip(f"Redis at 127.0.0.1:6379 is unreachable: {exc}")


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"the worker did not {what} within {timeout}s")


@pytest.fixture
def busy_group(transactional_db):
    """A group with something for every job to do at the real current time."""
    group = Group.objects.create(name="demo", title="Demo group")
    add_members(group, ["Alice Owner <alice@example.org>"], role=Membership.Role.OWNER)
    add_members(group, ["bob@example.org", "dora@example.org"])
    add_members(group, ["carol@example.org"], delivery=Membership.Delivery.DIGEST)
    now = timezone.now()
    Membership.objects.filter(group=group).update(joined_at=now - timedelta(days=2))
    for i in range(12):  # enough for an early digest, whatever the hour
        post(group, "bob@example.org", f"Topic {i}", f"text {i}\n",
             now - timedelta(minutes=30 - i))
    post(group, "dora@example.org", "Bike #forsale", "cheap\n", now - timedelta(days=20))
    Hashtag.objects.filter(group=group, name="forsale").update(expires_days=14)
    from messageserver import deliveryevents

    deliveryevents.record([{"state": "bounced", "address": "dora@example.org", "code": 550,
                            "reply": "550 5.1.1 user unknown", "at": now.isoformat(),
                            "meta": {"group": "demo", "number": 1}}])
    return group


def run_every_task(app, group, feed_server) -> None:
    url = feed_server.serve("/feed.xml", (CORPORA / "feeds/good/rss_item_title.xml").read_bytes())
    Feed.objects.create(group=group, url=url, poster_email="alice@example.org",
                        next_check_at=timezone.now() - timedelta(minutes=1))
    assert BounceEvent.objects.count() == 1
    # Wait on the worker's own signal, not by polling the database: the test's in-memory
    # SQLite is shared with the worker thread, and a read during its write is "locked".
    finished: list[tuple[str, str]] = []
    done = threading.Event()

    def on_postrun(sender=None, state=None, **kwargs):  # noqa: ANN001
        finished.append((sender.name, state))
        if len(finished) == 4:
            done.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
            for name in ("senddigests", "bouncer", "expirethreads", "rsscrawler"):
                app.tasks[f"cronjobs.{name}"].delay()
            assert done.wait(30), f"the worker finished only {finished} in 30s"
    finally:
        task_postrun.disconnect(on_postrun)
    assert sorted(finished) == [(f"cronjobs.{n}", "SUCCESS") for n in
                                ("bouncer", "expirethreads", "rsscrawler", "senddigests")]
    assert Membership.objects.get(email="dora@example.org").bounce_state == "bouncing"
    assert Topic.objects.get(subject="Bike #forsale").locked
    assert FeedEntry.objects.filter(message_number__isnull=False).count() == 1
    run = DigestRun.objects.get(kind="digest")
    assert run.membership.email == "carol@example.org" and run.last_number - run.first_number == 11


@pytest.mark.redis
def test_each_task_runs_on_a_worker_against_real_redis(busy_group, feed_server):
    redis_or_skip()
    queue = f"groups-test-{uuid.uuid4().hex[:12]}"
    app = make_app(broker=REDIS_URL, queue=queue)
    try:
        run_every_task(app, busy_group, feed_server)
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def test_each_task_runs_on_a_worker_with_the_embedded_broker(busy_group, feed_server, tmp_path):
    app = make_app(broker=f"sqla+sqlite:///{tmp_path / 'celery-broker.sqlite3'}")
    run_every_task(app, busy_group, feed_server)


def test_the_scheduler_process_runs_beat_and_the_jobs(tmp_path):
    """`python -m cronjobs.scheduler` on a fresh DATA_DIR with no Redis: beat starts, jobs run."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1", ERRORD_URL="http://127.0.0.1:9")
    MIGRATED.copy_sqlite(env, tmp_path / "groups.sqlite3")  # what `migrate` makes there
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cronjobs.scheduler", "--run-now"],
                                cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: log.read_text().count("succeeded in") >= 4,
                 "run the four jobs in the scheduler process", timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "beat: Starting..." in text
    assert f"sqla+sqlite:///{tmp_path}/celery-broker.sqlite3" in text
    for name in ("senddigests", "bouncer", "expirethreads", "rsscrawler"):
        assert re.search(rf"Task cronjobs\.{name}\[[0-9a-f-]+\] succeeded in", text), name
    assert "Traceback" not in text
