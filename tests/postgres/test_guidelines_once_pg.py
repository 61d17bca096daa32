"""Two runs of the monthly guidelines at the same moment send them once (PostgreSQL).

On SQLite every write transaction is IMMEDIATE, so two runs are serialised by
the database; on PostgreSQL two runs (the scheduler's task and an operator's
``manage.py housekeeping``, or a task Redis handed out again) would both see
"not sent this month" and both queue the notices, unless a run holds the group
while it checks and queues. The other run here is real: a second connection,
in its own thread, that holds the group and has queued the month's notice but
not yet committed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import connection, transaction

from groups.models import Group, OutboxItem
from messageserver import notices

pytestmark = pytest.mark.postgres

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)",
                allow_module_level=True)

JUNE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_run_waits_and_sends_nothing_twice(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(guidelines="Be kind.",
                                                 guidelines_monthly=True)
    holding, release = threading.Event(), threading.Event()

    def other_run() -> None:
        try:
            with transaction.atomic():
                Group.objects.select_for_update().get(pk=demo_group.pk)
                OutboxItem.objects.create(kind="job", payload={},
                                          description="demo: guidelines 2026-06 to x@example.org")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    queued: list[int] = []

    def this_run() -> None:
        try:
            queued.append(notices.send_monthly_guidelines(JUNE))
        finally:
            connection.close()

    first = threading.Thread(target=other_run)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=this_run)
    second.start()
    second.join(1.0)
    blocked = second.is_alive()  # it waits for the other run's transaction
    release.set()
    first.join(10)
    second.join(10)
    assert queued == [0], "the guidelines were queued twice this month"
    assert blocked
    assert OutboxItem.objects.filter(description__startswith="demo: guidelines").count() == 1
