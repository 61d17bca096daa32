"""Accepted means delivered: a job Karl refuses is reported, kept, shown and retried.

A real Karl (refusing a job whose header holds a line break, the defect of #15
item 1) with a real SMTP sink, a real errord, the real dispatcher pass, the
real management command and pages. Nothing here is a stand-in.
"""

from __future__ import annotations

import io
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from groups.models import OutboxItem, User
from messageserver import outbox, outboxfailures, pipeline
from platformcore.env import get_env
from tests.conftest import built_jobs, mail
from tests.errord.conftest import ErrordProcess, wait_for
from tests.karl.conftest import EventReceiver, KarlProcess, start_sink

pytestmark = pytest.mark.urls("groups.urls")


@pytest.fixture(scope="module")
def services():
    sink, receiver = start_sink(), EventReceiver()
    karl = KarlProcess(Path(tempfile.mkdtemp(prefix="karl-refusal-")), sink.url,
                       receiver.url).start()
    errord = ErrordProcess(Path(tempfile.mkdtemp(prefix="errord-refusal-")),
                           token=get_env().internal_api_token).start()
    yield karl, sink, errord
    errord.stop()
    karl.stop()
    sink.controller.stop()
    receiver.stop()


@pytest.fixture
def refused(demo_group, services, monkeypatch):
    """bob's post, its fan-out job broken the way item 1 broke it, refused by Karl once."""
    karl, sink, errord = services
    monkeypatch.setenv("ERRORD_URL", errord.url)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             mail("member_post.eml"))
    built_jobs()
    item = OutboxItem.objects.get(kind="job")
    good = dict(item.payload)
    broken = dict(good, headers=[*good["headers"], ["X-Folded", "a long value\n folded"]])
    OutboxItem.objects.filter(id=item.id).update(payload=broken)
    assert outbox.dispatch_due(client=karl.client()) == 0
    item.refresh_from_db()
    return item, good


def test_a_refused_job_is_reported_to_errord_with_the_job(refused, services):
    item, _ = refused
    from messageserver import metrics

    assert metrics.REGISTRY.get_sample_value("messageserver_outbox_refused_total",
                                             {"kind": "job"}) >= 1
    assert item.state == OutboxItem.State.FAILED and item.attempts == 1
    assert "422" in item.last_error and "line break" in item.last_error
    assert item.next_attempt_at > timezone.now() + timedelta(minutes=50)  # retried, later
    with services[2].client() as errord:
        [group] = wait_for(lambda: [g for g in errord.groups(service="messageserver")
                                    if g["exc_type"] == "KarlRefusedJob"], timeout=10)
        [occurrence] = errord.group(group["fingerprint"])["occurrences"]
    context = occurrence["context"]
    assert context["outbox_id"] == item.id and context["status"] == 422
    assert context["group"] == "demo"
    assert context["job"]["meta"] == {"group": "demo", "number": 1, "kind": "post"}
    assert ["X-Folded", "a long value\n folded"] in context["job"]["headers"]


def test_site_admin_and_owner_see_it_and_a_retry_after_the_fix_delivers(refused, services):
    item, good = refused
    karl, sink, _ = services
    out = io.StringIO()
    call_command("outbox", "--failed", stdout=out)
    assert str(item.id) in out.getvalue() and "demo #1" in out.getvalue()
    assert "422" in out.getvalue()

    root = User.objects.create_user("root@example.org", "root@example.org", "pw",
                                    is_superuser=True, is_staff=True)
    admin = Client()
    admin.force_login(root)
    page = admin.get(reverse("site_outbox")).content.decode()
    assert "demo #1" in page and "line break" in page
    member = Client()
    member.force_login(User.objects.create_user("bob@example.org", "bob@example.org", "pw"))
    for outsider in (Client(), member):
        assert outsider.get(reverse("site_outbox")).status_code == 302  # to the login page
        assert outsider.post(reverse("site_outbox"), {"id": [item.id]}).status_code == 302
    item.refresh_from_db()
    assert item.state == OutboxItem.State.FAILED  # nobody but a site admin retried it

    alice = User.objects.create_user("alice@example.org", "alice@example.org", "pw")
    owner = Client()
    owner.force_login(alice)
    dashboard = owner.get(reverse("mod_dashboard", args=["demo"])).content.decode()
    assert "Mail that could not be sent" in dashboard and "demo #1" in dashboard

    # A retry before the fix is refused again: still failed, still visible, counted.
    assert admin.post(reverse("site_outbox"), {"id": [item.id]}).status_code == 302
    outbox.dispatch_due(client=karl.client())
    item.refresh_from_db()
    assert (item.state, item.attempts) == (OutboxItem.State.FAILED, 2)

    # The fix deployed (the job is built right now): the automatic retry sends it.
    OutboxItem.objects.filter(id=item.id).update(
        payload=good, next_attempt_at=timezone.now() - timedelta(seconds=1))
    sink.handler.messages.clear()
    assert outbox.dispatch_due(client=karl.client()) == 1
    item.refresh_from_db()
    assert item.state == OutboxItem.State.DONE
    deadline = time.monotonic() + 20
    while len({m.rcpt for m in sink.handler.messages}) < 3:
        assert time.monotonic() < deadline, "the retried post did not reach every member"
        time.sleep(0.1)
    assert not outboxfailures.failed_items("demo").exists()
    assert "Mail that could not be sent" not in owner.get(
        reverse("mod_dashboard", args=["demo"])).content.decode()


def test_outbox_command_retry_names_unknown_ids(refused):
    item, _ = refused
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not failed outbox items: 999999"):
        call_command("outbox", "--retry", "999999")
    out = io.StringIO()
    call_command("outbox", "--retry", str(item.id), stdout=out)
    assert "1 failed item queued again" in out.getvalue()
    item.refresh_from_db()
    assert item.state == OutboxItem.State.PENDING
    out = io.StringIO()
    call_command("outbox", stdout=out)
    assert "pending" in out.getvalue() and "failed" in out.getvalue()


@pytest.mark.urls("messageserver.urls")
def test_health_counts_failed_items(refused):
    checks = Client().get("/health").json()["checks"]
    assert checks["outbox_failed"] == 1
