"""A post's fan-out is continued after its acceptance: built a slice at a time, exactly once.

The archive transaction writes the message, one "fanout" outbox row and the
recipients' snapshot; the answer smtpd turns into its 250 comes back then, and
the outbox dispatcher builds the Karl jobs afterwards (docs/design.md, "How a
post flows"). Here, with a real Karl and real SMTP sinks:
  * the pipeline answers before any job exists, and the dispatcher then gets
    every member exactly one copy, in growing keyset slices;
  * who gets the post is fixed when it is accepted: a member who leaves or
    switches to a digest right after still gets it, one who joins does not;
  * a dispatcher that lost its claim on the fan-out builds nothing;
  * a bulk fan-out's slices grow by the same rule as a personal one's
    (messageserver.fanoutslices), and one whose dispatcher died mid-way (a
    slice built, handed to Karl, never marked done) resumes with every member
    getting exactly one copy;
  * the real platform (smtpd, messageserver, Karl) with messageserver killed
    with -9 in the middle of a fan-out and started again: every member gets
    exactly one copy, none twice and none missing.
"""

from __future__ import annotations

import smtplib
import tempfile
import time
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.utils import timezone

from groups.membership import add_members
from groups.models import FanoutRecipient, Membership, OutboxItem
from messageserver import fanoutcontinuation, fanoutslices, membership_actions, outbox, pipeline
from tests.conftest import mail
from tests.e2e.conftest import platform  # noqa: F401  (the real-processes fixture)
from tests.karl.conftest import EventReceiver, KarlProcess, start_sink
from tests.reliability.conftest import query

pytestmark = pytest.mark.urls("groups.urls")


@pytest.fixture
def karl():
    sink, receiver = start_sink(), EventReceiver()
    process = KarlProcess(Path(tempfile.mkdtemp(prefix="karl-continue-")), sink.url,
                          receiver.url).start()
    yield process, sink
    process.stop()
    sink.controller.stop()
    receiver.stop()


def _post(group) -> int:
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [group.post_address],
                                             mail("member_post.eml"))
    assert outcome.kind == "accepted", outcome
    return outcome.number


def _drain(client) -> None:
    while outbox.dispatch_due(client=client):
        pass
    assert not OutboxItem.objects.exclude(state=OutboxItem.State.DONE).exists(), [
        (i.kind, i.state, i.last_error) for i in OutboxItem.objects.all()]


def test_the_answer_comes_before_any_job_and_every_member_gets_one_copy(
        demo_group, karl, monkeypatch):
    process, sink = karl
    monkeypatch.setenv("FANOUT_FIRST_JOB_RECIPIENTS", "4")
    monkeypatch.setenv("FANOUT_JOB_RECIPIENTS", "30")
    add_members(demo_group, [f"member{i}@example.net" for i in range(80)])
    expected = sorted(demo_group.memberships.filter(status="active")
                      .values_list("email", flat=True))
    _post(demo_group)
    # the answer is back (smtpd would say 250 now): one fan-out row, its snapshot, no job
    [row] = OutboxItem.objects.all()
    assert row.kind == OutboxItem.Kind.FANOUT and row.payload["total"] == len(expected)
    assert FanoutRecipient.objects.filter(fanout=row).count() == len(expected)
    _drain(process.client())
    jobs = list(OutboxItem.objects.filter(kind=OutboxItem.Kind.JOB).order_by("id"))
    # keyset slices growing from the first: 4, 16, 30, 30, ... every job handed to Karl
    sizes = [len(job.payload["recipients"]) for job in jobs]
    assert sizes[:3] == [4, 16, 30] and sum(sizes) == len(expected)
    assert all(job.karl_job_id for job in jobs)
    assert jobs[0].description.endswith(f"(part 1 of {len(jobs)})")
    assert not FanoutRecipient.objects.exists()  # the snapshot is used up
    got = sink.handler.wait_for(len(expected), timeout=60)
    time.sleep(0.5)  # anything sent twice would arrive now
    rcpts = [m.rcpt for m in sink.handler.received()]
    assert sorted(rcpts) == expected, Counter(rcpts).most_common(3)
    assert got


def test_who_gets_the_post_is_fixed_when_it_is_accepted(demo_group, karl, monkeypatch):
    process, sink = karl
    monkeypatch.setenv("FANOUT_FIRST_JOB_RECIPIENTS", "2")
    add_members(demo_group, [f"member{i}@example.net" for i in range(6)])
    _post(demo_group)
    leaver = Membership.objects.get(group=demo_group, email="member0@example.net")
    switcher = Membership.objects.get(group=demo_group, email="member5@example.net")
    # right after the acceptance, before its jobs are built
    membership_actions.leave(leaver)
    membership_actions.set_delivery(switcher, Membership.Delivery.DIGEST)
    add_members(demo_group, ["latecomer@example.net"])
    _drain(process.client())
    posted = [r["address"] for job in OutboxItem.objects.filter(
        kind=OutboxItem.Kind.JOB, payload__meta__kind="post") for r in job.payload["recipients"]]
    assert "member0@example.net" in posted and "member5@example.net" in posted
    assert "latecomer@example.net" not in posted
    deadline = time.monotonic() + 60
    while len(got := [m.rcpt for m in sink.handler.received() if m.rcpt in posted
                      and b"Hello everyone" in m.data]) < len(posted):
        assert time.monotonic() < deadline, (got, posted)
        time.sleep(0.05)
    assert sorted(got) == sorted(posted)


def test_a_dispatcher_that_lost_its_claim_builds_nothing(demo_group):
    add_members(demo_group, [f"member{i}@example.net" for i in range(5)])
    _post(demo_group)
    [row] = OutboxItem.objects.all()
    members = demo_group.memberships.filter(status="active").count()
    OutboxItem.objects.filter(pk=row.pk).update(state=OutboxItem.State.SENDING,
                                                claimed_by="host:1")
    row.refresh_from_db()
    # the claim was taken back (CLAIM_TIMEOUT) and given to another dispatcher meanwhile
    OutboxItem.objects.filter(pk=row.pk).update(claimed_by="host:2")
    assert fanoutcontinuation.next_slice(row) is None
    assert not OutboxItem.objects.filter(kind=OutboxItem.Kind.JOB).exists()
    assert FanoutRecipient.objects.filter(fanout=row).count() == members


def test_bulk_and_personal_slices_grow_by_one_rule(monkeypatch):
    # the defaults: a bulk fan-out of 100,000 starts with 2,000 addresses, not 50,000
    assert fanoutslices.sizes(100_000, bulk=True) == [2000, 8000, 32000, 50000, 8000]
    assert fanoutslices.sizes(10_000, bulk=True) == [2000, 8000]
    assert fanoutslices.sizes(10_000, bulk=False) == [200, 800, 3200, 5000, 800]
    monkeypatch.setenv("FANOUT_FIRST_BULK_JOB_RECIPIENTS", "3")
    monkeypatch.setenv("FANOUT_BULK_JOB_RECIPIENTS", "40")
    monkeypatch.setenv("FANOUT_FIRST_JOB_RECIPIENTS", "3")
    monkeypatch.setenv("FANOUT_JOB_RECIPIENTS", "40")
    assert fanoutslices.sizes(100, bulk=True) == fanoutslices.sizes(100, bulk=False) == [
        3, 12, 40, 40, 5]
    assert fanoutslices.part_count(100, 40, 3) == 5
    # a first slice larger than the largest job is cut to it
    monkeypatch.setenv("FANOUT_FIRST_BULK_JOB_RECIPIENTS", "500")
    assert fanoutslices.sizes(100, bulk=True) == [40, 40, 20]


@pytest.fixture
def bulk_group(demo_group, monkeypatch):
    monkeypatch.setenv("FANOUT_FIRST_BULK_JOB_RECIPIENTS", "4")
    monkeypatch.setenv("FANOUT_BULK_JOB_RECIPIENTS", "30")
    demo_group.bulk_delivery = True
    demo_group.save(update_fields=["bulk_delivery"])
    # three domains, so a slice of a domain-sorted job may cut through a domain
    add_members(demo_group, [f"member{i}@{'abc'[i % 3]}.example.net" for i in range(80)])
    return demo_group


def _copies(sink, expected: list[str]) -> list[str]:
    """Every RCPT the sink took, once ``expected`` have arrived and a duplicate could have."""
    assert sink.handler.wait_for(len(expected), timeout=60)
    time.sleep(0.5)  # anything sent twice would arrive now
    return sorted(m.rcpt for m in sink.handler.received())


def test_a_bulk_fanout_grows_from_its_first_slice_and_sends_each_copy_once(bulk_group, karl):
    process, sink = karl
    expected = sorted(bulk_group.memberships.filter(status="active")
                      .values_list("email", flat=True))
    _post(bulk_group)
    _drain(process.client())
    jobs = list(OutboxItem.objects.filter(kind=OutboxItem.Kind.JOB).order_by("id"))
    assert all(job.payload["kind"] == "bulk" and job.karl_job_id for job in jobs)
    sizes = [len(job.payload["recipients"]) for job in jobs]
    assert sizes == fanoutslices.sizes(len(expected), bulk=True)
    assert sizes[:3] == [4, 16, 30]
    assert jobs[0].description.endswith(f"(part 1 of {len(jobs)})")
    # taken in domain order: a domain's members in one job (or two, at a slice's edge)
    domains = [r["address"].rpartition("@")[2].lower() for job in jobs
               for r in job.payload["recipients"]]
    assert domains == sorted(domains)
    rcpts = _copies(sink, expected)
    assert rcpts == expected, Counter(rcpts).most_common(3)


def test_a_bulk_fanout_whose_dispatcher_died_mid_way_resumes_with_each_copy_once(
        bulk_group, karl):
    process, sink = karl
    client = process.client()
    expected = sorted(bulk_group.memberships.filter(status="active")
                      .values_list("email", flat=True))
    _post(bulk_group)
    for _ in range(2):  # one pass hands one slice to Karl: parts 1 and 2 (4 + 16)
        assert outbox.dispatch_due(client=client) == 1
    # a third pass, by a dispatcher that dies in it: the slice is built (job row written,
    # its recipients gone from the snapshot) and Karl takes the job, but the row is
    # never marked done
    [row] = OutboxItem.objects.filter(kind=OutboxItem.Kind.FANOUT)
    dead = "elsewhere:999999"
    assert OutboxItem.objects.filter(pk=row.pk, state=OutboxItem.State.PENDING).update(
        state=OutboxItem.State.SENDING, claimed_by=dead, claimed_at=timezone.now())
    row.refresh_from_db()
    job = fanoutcontinuation.next_slice(row)
    assert job is not None and job.description.endswith("(part 3 of 5)")
    taken = outbox._submit(job, client)
    row.refresh_from_db()
    assert row.state == OutboxItem.State.PENDING and row.payload["recipients_done"] == 50
    assert FanoutRecipient.objects.filter(fanout=row).count() == len(expected) - 50
    # the dead dispatcher's claims: left as they were until CLAIM_TIMEOUT takes them back
    # (reclaim_orphans, for a process of this host); the fan-out row itself went back to
    # pending with the slice, so another dispatcher may go on meanwhile
    OutboxItem.objects.filter(claimed_by=dead, state=OutboxItem.State.SENDING).update(
        claimed_at=timezone.now() - outbox.CLAIM_TIMEOUT - timedelta(seconds=1))
    _drain(client)
    job.refresh_from_db()
    assert job.karl_job_id == taken  # handed again with its key: Karl's answer, its first job
    jobs = OutboxItem.objects.filter(kind=OutboxItem.Kind.JOB).order_by("id")
    assert [len(j.payload["recipients"]) for j in jobs] == fanoutslices.sizes(
        len(expected), bulk=True)
    assert not FanoutRecipient.objects.exists()
    rcpts = _copies(sink, expected)
    assert rcpts == expected, Counter(rcpts).most_common(3)


MEMBERS = 300


def _post_by_smtp(p, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "owner@example.org"
    msg["To"] = "big@groups.localhost"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject}@example.org>"
    msg.set_content("a post to many\n")
    with smtplib.SMTP("127.0.0.1", p.ports["smtpd"], timeout=60) as client:
        client.send_message(msg)  # raises unless smtpd said 250


def _fanout_state(p) -> tuple[str, int, int]:
    """(state, parts done, recipients done) of the platform's one fan-out row."""
    [(state, payload)] = query(p, "SELECT state, payload FROM groups_outboxitem "
                                  "WHERE kind = 'fanout'")
    import json

    data = payload if isinstance(payload, dict) else json.loads(payload)
    return state, data["parts_done"], data["recipients_done"]


@pytest.mark.e2e
def test_kill_9_of_messageserver_mid_fanout_then_restart_sends_each_copy_once(platform):  # noqa: F811
    p = platform
    # tiny slices: the fan-out takes a few seconds of hand-offs, so the kill lands inside it
    p.env.update(FANOUT_FIRST_JOB_RECIPIENTS="1", FANOUT_JOB_RECIPIENTS="3")
    p.manage("creategroup", "big", "--owner", "owner@example.org")
    members = [f"m{i:03d}@example.net" for i in range(MEMBERS)]
    p.manage("addmembers", "big", *members)
    expected = sorted(["owner@example.org", *members])
    p.start()
    _post_by_smtp(p, "continued")
    deadline = time.monotonic() + 60
    while len(p.sink.messages) < 20:
        assert time.monotonic() < deadline, "the fan-out never started"
        time.sleep(0.02)
    p.kill("messageserver")  # SIGKILL in the middle of the continuation
    state, parts, done = _fanout_state(p)
    assert state != "done" and 0 < done < len(expected), (state, parts, done)
    stuck = p.manage("outbox", "--fanouts").stdout
    assert "big #1 (fan-out)" in stuck and f"{done} of {len(expected)}" in stuck, stuck
    p.start("messageserver")  # takes back the dead process's claims, resumes from `done`
    p.sink.wait_for(len(expected), timeout=120)
    deadline = time.monotonic() + 60
    while _fanout_state(p)[0] != "done" or query(
            p, "SELECT COUNT(*) FROM groups_outboxitem WHERE state != 'done'")[0][0]:
        assert time.monotonic() < deadline, p.manage("outbox", "--fanouts").stdout
        time.sleep(0.2)
    time.sleep(1.0)  # a copy sent twice would have arrived by now
    rcpts = [r for m in p.sink.messages for r in m.rcpt_tos]
    twice = [r for r, n in Counter(rcpts).items() if n > 1]
    assert not twice and sorted(rcpts) == expected, (twice[:5], len(rcpts))
    assert "no fan-out being built" in p.manage("outbox", "--fanouts").stdout
