"""A group too large for one Karl job still gets every post: the fan-out is split.

Karl refuses a job over KARL_MAX_JOB_BYTES; before the split, a post to a
group of about 79,000 members (at its 64 MiB default) was accepted with 250
and then refused for ever. Here a real Karl with a 64 KiB limit and a group
whose one job would be about three times that: every member gets one copy.
"""

from __future__ import annotations

import email
import email.policy
import tempfile
from pathlib import Path

import pytest

from groups.membership import add_members
from groups.models import OutboxItem
from messageserver import outbox, pipeline
from tests.conftest import built_jobs, mail
from tests.karl.conftest import EventReceiver, KarlProcess, start_sink

pytestmark = pytest.mark.urls("groups.urls")

MEMBERS = 240  # about 850 bytes each in the job: ~200 KB in one job


@pytest.fixture
def small_karl():
    sink, receiver = start_sink(), EventReceiver()
    karl = KarlProcess(Path(tempfile.mkdtemp(prefix="karl-split-")), sink.url, receiver.url,
                       {"KARL_MAX_JOB_BYTES": str(64 * 1024)}).start()
    yield karl, sink
    karl.stop()
    sink.controller.stop()
    receiver.stop()


def _post(demo_group) -> None:
    add_members(demo_group, [f"member{i}@example.net" for i in range(MEMBERS)])
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             mail("member_post.eml"))
    assert outcome.kind == "accepted", outcome
    built_jobs()  # what messageserver's dispatcher does after the acceptance


def test_a_large_fanout_becomes_several_jobs_each_recipient_once(demo_group, monkeypatch):
    monkeypatch.setenv("FANOUT_JOB_RECIPIENTS", "50")
    _post(demo_group)
    items = list(OutboxItem.objects.filter(kind="job").order_by("id"))
    rcpts = [r["address"] for item in items for r in item.payload["recipients"]]
    expected = demo_group.memberships.filter(status="active").count()  # the poster too
    assert len(items) == -(-expected // 50) and len(items) > 1
    assert all(len(item.payload["recipients"]) <= 50 for item in items)
    assert len(rcpts) == len(set(rcpts)) == expected
    assert items[0].description.endswith(f"(part 1 of {len(items)})")


def test_every_member_of_a_group_too_large_for_one_job_gets_the_post(
        demo_group, small_karl, monkeypatch):
    karl, sink = small_karl
    monkeypatch.setenv("FANOUT_JOB_RECIPIENTS", "60")
    _post(demo_group)
    # one job of all of them would be over Karl's limit
    whole = sum(len(str(item.payload)) for item in OutboxItem.objects.filter(kind="job"))
    assert whole > 64 * 1024
    while outbox.dispatch_due(client=karl.client()):
        pass
    assert not OutboxItem.objects.exclude(state=OutboxItem.State.DONE).exists(), [
        (i.state, i.last_error) for i in OutboxItem.objects.all()]
    expected = demo_group.memberships.filter(status="active").count()  # the poster too
    got = sink.handler.wait_for(expected, timeout=60)
    assert sorted(m.rcpt for m in got) == sorted(set(m.rcpt for m in got))
    assert len(got) == expected
    copy = email.message_from_bytes(got[0].data, policy=email.policy.default)
    assert copy["List-Unsubscribe"]


def test_the_first_job_is_small_so_delivery_starts_at_once(demo_group, monkeypatch):
    """FANOUT_FIRST_JOB_RECIPIENTS, then four times more a job: Karl sends while the rest comes."""
    monkeypatch.setenv("FANOUT_JOB_RECIPIENTS", "100")
    monkeypatch.setenv("FANOUT_FIRST_JOB_RECIPIENTS", "10")
    _post(demo_group)
    items = list(OutboxItem.objects.filter(kind="job").order_by("id"))
    sizes = [len(item.payload["recipients"]) for item in items]
    expected = demo_group.memberships.filter(status="active").count()  # the poster too
    assert sizes[:3] == [10, 40, 100] and all(size == 100 for size in sizes[2:-1])
    assert len(items) == 2 + -(-(expected - 50) // 100)
    rcpts = [r["address"] for item in items for r in item.payload["recipients"]]
    assert len(rcpts) == len(set(rcpts)) == expected
    # every job carries the same post, headers and footer: only the recipients differ
    firsts = [{k: v for k, v in item.payload.items() if k != "recipients"} for item in items]
    assert all(f == firsts[0] for f in firsts)
