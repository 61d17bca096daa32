"""A webhook event goes out through a real Celery worker on the real Redis: the delivery
written with the change, the task queued after its commit (groups.apps'
queue_webhook_deliveries), sent by the worker to a real HTTPS receiver, and marked."""

from __future__ import annotations

import threading
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun

import cronjobs.celeryapp
from cronjobs.celeryapp import make_app
from groups.apps import queue_webhook_deliveries
from groups.models import Group, Membership, Webhook, WebhookDelivery
from messageserver import membership_actions, webhookevents
from tests.cronjobs.test_celery import REDIS_URL, redis_or_skip
from tests.httpsreceiver import start_receiver


@pytest.mark.redis
def test_event_to_receiver_through_a_worker_on_redis(transactional_db, monkeypatch):
    redis_or_skip()
    receiver = start_receiver()
    monkeypatch.setenv("WEBHOOK_CA_FILE", receiver.ca_file)
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")
    queue = f"groups-test-{uuid.uuid4().hex[:12]}"
    app = make_app(broker=REDIS_URL, queue=queue)
    monkeypatch.setattr(cronjobs.celeryapp, "app", app)  # the kicker queues on this app
    monkeypatch.setattr(webhookevents, "_kickers", [queue_webhook_deliveries])
    group = Group.objects.create(name="demo", title="Demo")
    hook = Webhook.objects.create(group=group, url=receiver.url, secret="k" * 64,
                                  events=["member.joined"])
    row = Membership.objects.create(group=group, email="dora@example.org",
                                    status=Membership.Status.INVITED)
    done = threading.Event()

    def on_postrun(sender=None, state=None, retval=None, **kwargs):  # noqa: ANN001
        if sender.name == "cronjobs.webhook_deliver":
            done.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
            membership_actions.join(row.pk, actor="dora@example.org")
            assert done.wait(30), "the worker did not deliver within 30s"
    finally:
        task_postrun.disconnect(on_postrun)
        receiver.close()
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.state == WebhookDelivery.State.DELIVERED and delivery.attempts == 1
    [request] = receiver.requests
    assert request.headers["X-Groups-Event"] == "member.joined"
