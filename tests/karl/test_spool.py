"""The LevelDB spool, for real: what is written survives reopening, and the queue orders by due."""

from __future__ import annotations

from karl.contract import Job
from karl.spool import Spool, now_ms


def make_job(n: int) -> Job:
    return Job(message=b"Subject: x\r\n\r\nbody\r\n", mail_from="bounce@groups.localhost",
               recipients=[{"address": f"m{i}@example.org"} for i in range(n)],
               meta={"group": "demo"})


def test_accepted_job_survives_reopening_and_is_due(tmp_path):
    spool = Spool(tmp_path / "spool")
    job_id = spool.add_job(make_job(3))
    spool.close()
    spool = Spool(tmp_path / "spool")
    due = spool.due(now_ms() + 1, 10, set())
    assert [(d.job_id, d.index, d.record["address"]) for d in due] == [
        (job_id, i, f"m{i}@example.org") for i in range(3)]
    assert spool.message(job_id) == b"Subject: x\r\n\r\nbody\r\n"
    assert spool.job_spec(job_id)["meta"] == {"group": "demo"}


def test_outcomes_move_recipients_and_finish_the_job(tmp_path):
    spool = Spool(tmp_path / "spool")
    job_id = spool.add_job(make_job(3))
    d0, d1, d2 = spool.due(now_ms() + 1, 10, set())
    later = now_ms() + 60_000
    event = {"job_id": job_id, "address": "m1@example.org", "state": "bounced"}
    finished = spool.record([
        (d0, d0.record | {"state": "sent", "vars": {"big": "x"}}, None),
        (d1, d1.record | {"state": "bounced", "code": 550, "reply": "5.1.1 unknown"}, None),
        (d2, d2.record | {"state": "deferred"}, later)], [event])
    assert finished == []
    assert spool.due(now_ms() + 1, 10, set()) == []  # the deferred one waits
    assert [d.index for d in spool.due(later + 1, 10, set())] == [2]
    records = dict(spool.recipients(job_id))
    assert records[0]["state"] == "sent" and "vars" not in records[0]
    [dead] = spool.dead_letters()
    assert dead["address"] == "m1@example.org" and dead["code"] == 550
    assert [e for _, e in spool.pending_events(10)] == [event]
    [d2] = spool.due(later + 1, 10, set())
    assert spool.record([(d2, d2.record | {"state": "sent"}, None)], []) == [job_id]
    assert spool.message(job_id) is None  # the message goes once nobody needs it
    assert spool.job_spec(job_id) is not None  # the status stays visible for a while
    assert spool.purge_finished(now_ms() + 1) == 1 and spool.job_spec(job_id) is None


def test_due_skips_claimed_and_resumes_after_a_cursor(tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.add_job(make_job(5))
    first = spool.due(now_ms() + 1, 2, set())
    rest = spool.due(now_ms() + 1, 10, set(), after=first[-1].key)
    assert [d.index for d in rest] == [2, 3, 4]
    skipped = spool.due(now_ms() + 1, 10, {d.key for d in first})
    assert [d.index for d in skipped] == [2, 3, 4]


def test_events_survive_until_dropped(tmp_path):
    spool = Spool(tmp_path / "spool")
    job_id = spool.add_job(make_job(1))
    [d] = spool.due(now_ms() + 1, 1, set())
    spool.record([(d, d.record | {"state": "expired"}, None)],
                 [{"job_id": job_id, "state": "expired"}])
    spool.close()
    spool = Spool(tmp_path / "spool")
    [(key, event)] = spool.pending_events(10)
    assert event["state"] == "expired"
    spool.drop_events([key])
    assert spool.pending_events(10) == []
    spool.record([], [{"n": 2}])  # sequence numbers go on after a restart
    assert [e for _, e in spool.pending_events(10)] == [{"n": 2}]


def test_scans_start_past_delivered_entries_and_still_find_new_ones(tmp_path):
    """The queue's head is full of tombstones after a fan-out; scans skip them, losing nothing.

    Each scan moves the floor up to the first live entry; a job accepted
    afterwards and a retry due at once must both still be found above it.
    """
    spool = Spool(tmp_path / "spool")
    spool.add_job(make_job(2000))
    due = spool.due(now_ms() + 1, 5000, set())
    spool.record([(d, d.record | {"state": "sent"}, None) for d in due[:-1]], [])
    assert spool.next_due() == int(due[-1].key[1:17])
    assert [d.index for d in spool.due(now_ms() + 1, 10, set())] == [1999]
    new_job = spool.add_job(make_job(1))
    [last] = spool.due(now_ms() + 1, 1, set())
    spool.record([(last, last.record | {"state": "deferred"}, now_ms())], [])
    found = spool.due(now_ms() + 1, 10, set())
    assert sorted((d.job_id == new_job, d.index) for d in found) == [(False, 1999), (True, 0)]


def test_a_job_being_written_is_not_scanned_past(tmp_path):
    """add_job runs in a thread: scans meanwhile must not move the floor above its entries."""
    import threading

    spool = Spool(tmp_path / "spool")
    spool.add_job(make_job(1))
    spool.record([(d, d.record | {"state": "sent"}, None)
                  for d in spool.due(now_ms() + 1, 10, set())], [])
    writer = threading.Thread(target=spool.add_job, args=(make_job(30_000),))
    writer.start()
    while writer.is_alive():  # scan as the scheduler does while the big job is written
        spool.next_due()
        spool.due(now_ms(), 100, set())
    writer.join()
    assert len(spool.due(now_ms() + 1, 50_000, set())) == 30_000


def test_a_retry_written_late_is_still_found(tmp_path):
    """Outcomes are written by the Recorder's thread, after their due time was chosen.

    A retry due "now" reaches the disk later than now; scans in between must not
    move the queue's floor past it (the recipient's old entry holds it down).
    """
    import time

    spool = Spool(tmp_path / "spool")
    spool.add_job(make_job(2))
    first, second = spool.due(now_ms() + 1, 10, set())
    retry_at = now_ms()
    time.sleep(0.01)
    spool.record([(second, second.record | {"state": "sent"}, None)], [])
    spool.next_due()  # scans while the retry is not yet written
    spool.due(now_ms(), 100, {first.key})
    spool.record([(first, first.record | {"state": "deferred"}, retry_at)], [])
    assert [d.index for d in spool.due(now_ms() + 1, 10, set())] == [0]


def _finish_a_mixed_job(spool: Spool, legacy: bool) -> dict:
    """Four recipients: sent, sent after waiting, bounced, expired after waiting; the
    job's "finished" event. ``legacy``: its progress record as an earlier Karl wrote it."""
    job = make_job(4)
    job.events = ["finished"]
    job_id = spool.add_job(job)
    if legacy:  # a bare count of pending records, no tallies
        spool.db.put(b"P" + job_id.encode(), b"4")
    d0, d1, d2, d3 = spool.due(now_ms() + 1, 10, set())
    later = now_ms() + 60_000
    assert spool.record([(d0, d0.record | {"state": "sent", "attempts": 1}, None),
                         (d1, d1.record | {"state": "deferred", "attempts": 1}, later),
                         (d2, d2.record | {"state": "bounced", "attempts": 1}, None),
                         (d3, d3.record | {"state": "deferred", "attempts": 1}, later)],
                        []) == []
    d1, d3 = spool.due(later + 1, 10, set())
    assert spool.record([(d1, d1.record | {"state": "sent", "attempts": 2}, None),
                         (d3, d3.record | {"state": "expired", "attempts": 2}, None)],
                        []) == [job_id]
    [event] = [e for _, e in spool.pending_events(10) if e["job_id"] == job_id]
    return event


def test_the_finished_event_counts_every_copy_without_reading_the_records_back(tmp_path):
    """The counts are kept as outcomes are written; a job spooled by an earlier Karl
    (no counts kept) is counted from its records, to the same event."""
    kept = _finish_a_mixed_job(Spool(tmp_path / "a"), legacy=False)
    counted = _finish_a_mixed_job(Spool(tmp_path / "b"), legacy=True)
    assert kept["counts"] == {"sent": 2, "bounced": 1, "expired": 1}
    assert kept["deferred"] == 2 and kept["total"] == 4 and kept["state"] == "finished"
    assert {k: v for k, v in kept.items() if k not in ("id", "job_id", "at")} == {
        k: v for k, v in counted.items() if k not in ("id", "job_id", "at")}
