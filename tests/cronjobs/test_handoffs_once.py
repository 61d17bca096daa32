"""Hand-offs that happen once: retried tasks, re-dispatched outbox rows, re-posted events.

A real Karl process and a real SMTP relay stand behind the outbox; the
delivery events go through messageserver's real view. Each test repeats a
hand-off the way a crash repeats it (a Celery task run again, an outbox row
taken back from a killed dispatcher, Karl re-posting events whose answer it
lost) and checks that members get one copy and bounces count once.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client

from cronjobs.config import DigestSettings
from cronjobs.digests import send_digests
from groups.models import BounceEvent, Membership, OutboxItem
from messageserver import outbox
from platformcore.env import get_env
from tests.cronjobs.conftest import post
from tests.karl.conftest import TOKEN, EventReceiver, KarlProcess, start_sink

DAY = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
def karl():
    sink, receiver = start_sink(), EventReceiver()
    data = Path(tempfile.mkdtemp(prefix="karl-once-"))
    k = KarlProcess(data, sink.url, receiver.url).start()
    yield k, sink
    k.stop()
    sink.controller.stop()
    receiver.stop()


def test_a_retried_digest_task_and_a_redispatched_row_send_one_digest(digest_group, karl):
    from karl.client import KarlClient

    k, sink = karl
    post(digest_group, "bob@example.org", "Picnic", "Who's coming?\n", DAY + timedelta(hours=10))
    OutboxItem.objects.all().delete()  # the post's own fan-out is not what this test is about
    now = DAY + timedelta(days=1, minutes=5)
    first = send_digests(now, DigestSettings())
    assert len(first.sent) == 3
    # the task runs again (Celery redelivered it after a crash that followed the commit)
    assert send_digests(now, DigestSettings()).sent == []
    assert OutboxItem.objects.count() == first.jobs
    client = KarlClient(k.url, TOKEN)
    assert outbox.dispatch_due(client) == first.jobs
    job_ids = set(OutboxItem.objects.values_list("karl_job_id", flat=True))
    # the dispatcher was killed before it marked the rows done: they are taken back
    OutboxItem.objects.update(state=OutboxItem.State.PENDING)
    assert outbox.dispatch_due(client) == first.jobs
    assert set(OutboxItem.objects.values_list("karl_job_id", flat=True)) == job_ids
    sink.handler.wait_for(3)
    time.sleep(1.0)  # a second copy would be here by now
    copies = Counter(m.rcpt for m in sink.handler.received())
    assert copies == Counter({"carol@example.org": 1, "dave@example.org": 1,
                              "erin@example.org": 1})


def test_the_outbox_key_is_the_rows_identity():
    a = OutboxItem(id=7, created_at=DAY)
    b = OutboxItem(id=7, created_at=DAY + timedelta(microseconds=1))
    assert outbox.idempotency_key(a) == outbox.idempotency_key(OutboxItem(id=7, created_at=DAY))
    assert outbox.idempotency_key(a) != outbox.idempotency_key(b)  # a database started afresh


def _post_events(events: list[dict]) -> dict:
    response = Client().post("/v1/delivery-events", {"events": events},
                             content_type="application/json",
                             HTTP_AUTHORIZATION=f"Bearer {get_env().internal_api_token}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.urls("messageserver.urls")
def test_a_reposted_delivery_event_counts_its_bounce_once(demo_group):
    bob = Membership.objects.get(email="bob@example.org")
    event = {"id": "0001/00000002/1", "job_id": "0001", "address": "bob@example.org",
             "state": "bounced", "code": 550, "reply": "550 5.1.1 user unknown",
             "at": "2026-11-23T12:00:00+00:00", "meta": {"group": "demo", "number": 4}}
    assert _post_events([event]) == {"accepted": 1, "matched": 1}
    score = Membership.objects.get(pk=bob.pk).bounce_score
    # Karl lost the answer and posts the same batch again
    assert _post_events([event]) == {"accepted": 1, "matched": 0}
    assert BounceEvent.objects.filter(membership=bob).count() == 1
    assert Membership.objects.get(pk=bob.pk).bounce_score == score
    # the next attempt's bounce is a new event, and counts
    assert _post_events([{**event, "id": "0001/00000002/2"}])["matched"] == 1
    assert BounceEvent.objects.filter(membership=bob).count() == 2
    # an event from an older Karl, without an id, is recognised by what it says
    legacy = {k: v for k, v in event.items() if k != "id"} | {"at": "2026-11-24T08:00:00+00:00"}
    assert _post_events([legacy, legacy])["matched"] == 1
    assert BounceEvent.objects.filter(membership=bob).count() == 3
