"""The LevelDB spool: every accepted recipient lives here until sent, bounced or expired.

A job is written in one synced batch before Karl answers 202, so a kill -9 at
any moment loses nothing it acknowledged. Nothing is mirrored in memory: the
queue is a key range ordered by due time, read a bounded slice at a time, so
memory stays flat however many recipients are spooled.

Keys (all bytes; JOB is a sortable id, IDX 8 hex digits):
  J JOB          job spec JSON (+ created, count)
  M JOB          the raw message (deleted when the job is finished)
  P JOB          progress JSON: records still pending ("left": recipients, or a bulk
                 job's transactions) and the finished recipients' counts (the
                 "finished" event); a bare decimal count from an earlier Karl
  R JOB / IDX    recipient record JSON; for a bulk job (spec "units"), a transaction
                 record: up to 100 recipients of one domain (karl.bulkrecords)
  Q DUE JOB/IDX  queue entry (DUE: 16-digit ms since the epoch)
  D AT JOB/IDX   dead letter (bounced or expired) index
  E SEQ          delivery event waiting to be reported to messageserver
  X AT JOB       finished job, for clean-up after KARL_KEEP_DONE
  K KEY          idempotency key -> {job, fp, count} (karl.idempotency)
  Y AT KEY       key whose job was purged: forgotten after the retention window
Outcomes are written with sync=True (by the scheduler's Recorder thread, the
batches that finished meanwhile in one write), so a machine crash (not only a
kill) re-sends at most the copies in flight.
Only the Karl process opens the spool; it is the single writer.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plyvel

from karl import bulkrecords
from karl.contract import Job
from karl.idempotency import Fingerprint

TERMINAL = ("sent", "bounced", "expired")
# a finished bulk recipient for the dead letters: (job, index, address, state, code, reply)
DeadLetter = tuple[str, int, str, str, int | None, str]


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


# One encoder for every record: json.dumps with arguments builds a new JSONEncoder per
# call, a fifth of the cost of dumping a recipient's record (twice a recipient: spooled,
# then its outcome). The same bytes.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def qkey(due: int, job_id: str, index: int) -> bytes:
    return b"Q%016d%s/%08x" % (due, job_id.encode(), index)


def rkey(job_id: str, index: int) -> bytes:
    return b"R%s/%08x" % (job_id.encode(), index)


def parse_qkey(key: bytes) -> tuple[int, str, int]:
    due = int(key[1:17])
    job, _, idx = key[17:].partition(b"/")
    return due, job.decode(), int(idx, 16)


@dataclass
class Due:
    """A recipient due for delivery, as read from the queue."""

    key: bytes
    job_id: str
    index: int
    record: dict[str, Any]


class SpoolUnavailable(Exception):
    """The spool cannot be written (disk full, permissions): Karl answers 503."""


class KeyReused(Exception):
    """An idempotency key already names a job submitted with a different body."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(f"idempotency key {key!r} was used for another request (job {job_id})")
        self.key, self.job_id = key, job_id


@dataclass
class Accepted:
    """The answer to a submission: the job, and whether it was already there."""

    job_id: str
    count: int
    replayed: bool = False


class Spool:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.db = plyvel.DB(str(self.path), create_if_missing=True, write_buffer_size=8 << 20)
        self._event_seq = self._last_event_seq()
        self._queue_floor = b"Q"  # no queue entry sorts below this key (see _raise_floor)
        self._writing: Counter[int] = Counter()  # due times of jobs being written now
        self._lock = threading.Lock()
        self._key_lock = threading.Lock()
        self._last_scan = 0

    def close(self) -> None:
        self.db.close()

    def _last_event_seq(self) -> int:
        for key in self.db.iterator(prefix=b"E", reverse=True, include_value=False):
            return int(key[1:])
        return 0

    # ------------------------------------------------------------ accepting

    def add_job(self, job: Job) -> str:
        """Write a whole job (synced) and return its id."""
        return self.add_job_once(job).job_id

    def add_job_once(self, job: Job, key: str | None = None,
                     fp: Fingerprint | None = None) -> Accepted:
        """Write a whole job (synced) unless ``key`` already names one: then that one.

        The key is written in the job's own synced batch, so a job is never on
        disk without its key nor the key without its job. Callers are
        serialised (one writer thread, and the key lock), so two submissions
        with one key at the same moment make one job.
        """
        with self._key_lock:
            if key is not None:
                raw = self.db.get(b"K" + key.encode())
                if raw is not None:
                    known = json.loads(raw)
                    if fp is not None and not fp.matches(known.get("fp", "")):
                        raise KeyReused(key, known["job"])
                    return Accepted(known["job"], known.get("count", 0), replayed=True)
            return Accepted(self._add_job(job, key, fp), job.count)

    def _add_job(self, job: Job, key: str | None, fp: Fingerprint | None) -> str:
        with self._lock:  # register the due time before it can be scanned past
            created = now_ms()
            self._writing[created] += 1
        job_id = f"{created:013x}{secrets.token_hex(4)}"
        spec = job.spec() | {"created": created, "count": job.count}
        records: list[dict[str, Any]]
        if job.kind == "bulk":  # a record per transaction (karl.bulkrecords)
            records = bulkrecords.build_units(job.addresses, domains=job.domains or None)
            spec["units"] = len(records)
        else:
            records = [rcpt | {"state": "queued", "attempts": 0} for rcpt in job.recipients]
        if key is not None:
            spec["idempotency_key"] = key
        try:
            with self.db.write_batch(sync=True) as wb:
                if key is not None:
                    wb.put(b"K" + key.encode(), _dumps({"job": job_id, "count": job.count,
                                                        "fp": fp.value if fp else ""}))
                wb.put(b"J" + job_id.encode(), _dumps(spec))
                wb.put(b"M" + job_id.encode(), job.message)
                wb.put(b"P" + job_id.encode(), _dumps(_progress(len(records))))
                for i, record in enumerate(records):
                    wb.put(rkey(job_id, i), _dumps(record))
                    wb.put(qkey(created, job_id, i), b"")
        except plyvel.Error as exc:
            raise SpoolUnavailable(str(exc)) from exc
        finally:
            with self._lock:
                self._writing[created] -= 1
                if not self._writing[created]:
                    del self._writing[created]
        return job_id

    def check_writable(self) -> bool:
        try:
            self.db.put(b"_health", str(now_ms()).encode(), sync=False)
            return True
        except plyvel.Error:
            return False

    # ------------------------------------------------------------ reading

    def job_spec(self, job_id: str) -> dict[str, Any] | None:
        raw = self.db.get(b"J" + job_id.encode())
        return json.loads(raw) if raw else None

    def message(self, job_id: str) -> bytes | None:
        return self.db.get(b"M" + job_id.encode())

    def due(self, now: int, limit: int, skip: set[bytes], after: bytes = b"") -> list[Due]:
        """Up to ``limit`` queue entries due by ``now``, oldest first, not in ``skip``.

        ``after`` resumes a scan past the entries already claimed (the
        scheduler's cursor), so a large in-flight set is not re-read each time.
        """
        out: list[Due] = []
        stop = b"Q%016d\xff" % now
        if after:
            start = after + b"\x00"
        else:
            scanned_at = self._scan_time()
            start = self._queue_floor
        first = True
        for key in self.db.iterator(start=start, stop=stop, include_value=False):
            if first and not after:
                self._raise_floor(key, scanned_at)
            first = False
            if key in skip:
                continue
            _, job_id, index = parse_qkey(key)
            raw = self.db.get(rkey(job_id, index))
            if raw is None:  # a stale entry (should not happen): drop it
                self.db.delete(key)
                continue
            out.append(Due(key, job_id, index, json.loads(raw)))
            if len(out) >= limit:
                break
        return out

    def next_due(self, after: int | None = None) -> int | None:
        """The due time of the first queue entry (due after ``after``, when given)."""
        if after is not None:
            for key in self.db.iterator(start=b"Q%016d" % (after + 1), stop=b"R",
                                        include_value=False):
                return parse_qkey(key)[0]
            return None
        scanned_at = self._scan_time()
        for key in self.db.iterator(start=self._queue_floor, stop=b"R", include_value=False):
            self._raise_floor(key, scanned_at)
            return parse_qkey(key)[0]
        self._raise_floor(b"R", scanned_at)
        return None

    def _scan_time(self) -> int:
        """Now, or earlier while a job is being written (in a thread) and not yet visible."""
        with self._lock:
            now = now_ms()
            if now < self._last_scan:  # the clock went back: trust no floor
                self._queue_floor = b"Q"
            self._last_scan = now
            return min([now, *self._writing])

    def _raise_floor(self, first_key: bytes, scanned_at: int) -> None:
        """Start later scans at the first live queue entry: everything below is deleted.

        Delivered entries leave LevelDB tombstones at the head of the queue until
        a compaction drops them, and an iterator from b"Q" would step over every
        one of them on every scan. The floor is safe because an entry is only
        ever written with a due time at or after the moment it is written (new
        jobs: now; retries: now + backoff), and the floor never passes the
        moment of the scan that set it (nor the due time of a job still being
        written).
        """
        floor = min(first_key, b"Q%016d" % scanned_at)
        if floor > self._queue_floor:
            self._queue_floor = floor

    def count_queued(self) -> int:
        """Recipients waiting (a bulk transaction record counts its pending recipients)."""
        total = 0
        units: dict[str, bool] = {}
        for key in self.db.iterator(prefix=b"Q", include_value=False):
            _, job_id, index = parse_qkey(key)
            if job_id not in units:
                units[job_id] = bool((self.job_spec(job_id) or {}).get("units"))
            if units[job_id]:
                raw = self.db.get(rkey(job_id, index))
                total += len(bulkrecords.pending(json.loads(raw))) if raw else 0
            else:
                total += 1
        return total

    def recipients(self, job_id: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every recipient's record in index order; a bulk transaction record is expanded
        to its recipients, each carrying ``unit`` (the index of its record and queue entry)."""
        prefix = b"R" + job_id.encode() + b"/"
        for key, value in self.db.iterator(prefix=prefix):
            index, record = int(key[len(prefix):], 16), json.loads(value)
            if bulkrecords.is_unit(record):
                for number, rec in bulkrecords.expand(record):
                    yield number, rec | {"unit": index}
            else:
                yield index, record

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        out = []
        for i, value in enumerate(self.db.iterator(prefix=b"D", reverse=True,
                                                   include_key=False)):
            if i < offset:
                continue
            if len(out) >= limit:
                break
            out.append(json.loads(value))
        return out

    # ------------------------------------------------------------ recording outcomes

    def record(self, changes: list[tuple[Due, dict[str, Any], int | None]],
               events: list[dict[str, Any]], sync: bool = True,
               dead: Sequence[DeadLetter] = ()) -> list[str]:
        """Apply new recipient records in one batch; returns the ids of jobs now finished.

        Each change is (the Due it came from, the new record, the new due time
        or None when the recipient is finished). Synced by default: a delivered
        recipient forgotten by a machine crash would be sent again. A bulk
        transaction record's bounced and expired recipients come as ``dead``
        (one per recipient, when it finished); a personal record's are found here.
        """
        finished: list[str] = []
        pending_delta: dict[str, dict[str, int]] = {}  # per job: records done, their tally
        at = now_ms()
        with self.db.write_batch(sync=sync) as wb:
            for due, record, next_due in changes:
                wb.delete(due.key)
                if next_due is None:
                    record = {k: v for k, v in record.items() if k not in ("vars", "headers")}
                    # ("left" here: how many of the job's records this write finishes)
                    done = pending_delta.setdefault(due.job_id, _progress(0))
                    done["left"] += 1
                    _tally(done, record)
                    if record["state"] in ("bounced", "expired") \
                            and not bulkrecords.is_unit(record):
                        wb.put(b"D%016d%s/%08x" % (at, due.job_id.encode(), due.index),
                               _dumps({"job_id": due.job_id, "index": due.index,
                                       "address": record["address"], "state": record["state"],
                                       "code": record.get("code"),
                                       "reply": record.get("reply", ""), "at": iso(at)}))
                else:
                    wb.put(qkey(next_due, due.job_id, due.index), b"")
                wb.put(rkey(due.job_id, due.index), _dumps(record))
            for job_id, index, address, state, code, reply in dead:
                wb.put(b"D%016d%s/%08x" % (at, job_id.encode(), index),
                       _dumps({"job_id": job_id, "index": index, "address": address,
                               "state": state, "code": code, "reply": reply, "at": iso(at)}))
            for event in events:
                self._event_seq += 1
                wb.put(b"E%016d" % self._event_seq, _dumps(event))
            for job_id, done in pending_delta.items():
                raw = self.db.get(b"P" + job_id.encode())
                progress = _read_progress(raw)
                progress["left"] -= done["left"]
                if progress.get("total") is not None:
                    for name in _TALLIED:
                        progress[name] += done[name]
                if progress["left"] <= 0:
                    summary = self._finished_event(job_id, changes, at, progress)
                    if summary is not None:
                        self._event_seq += 1
                        wb.put(b"E%016d" % self._event_seq, _dumps(summary))
                    wb.delete(b"P" + job_id.encode())
                    wb.delete(b"M" + job_id.encode())
                    wb.put(b"X%016d%s" % (at, job_id.encode()), b"")
                    finished.append(job_id)
                else:
                    wb.put(b"P" + job_id.encode(), _dumps(progress))
        return finished

    def _finished_event(self, job_id: str, changes: list[tuple[Due, dict[str, Any], int | None]],
                        at: int, progress: dict[str, int]) -> dict[str, Any] | None:
        """The "finished" event of a job that asked for one: what became of every copy.

        Its counts were kept in the job's progress record (``P``), written with
        each batch of outcomes, so the event costs no pass over the job's records.
        A job spooled before the counts were kept (its ``P`` a bare number) is
        counted from its records, the batch being written taking precedence.
        "deferred" counts copies that waited at least once.
        """
        spec = self.job_spec(job_id)
        if spec is None or "finished" not in (spec.get("events") or ()):
            return None
        if progress.get("total") is not None:
            return {"id": f"{job_id}/finished", "job_id": job_id, "address": "",
                    "state": "finished", "code": None, "reply": "", "at": iso(at),
                    "meta": spec.get("meta") or {},
                    "counts": {"sent": progress["sent"], "bounced": progress["bounced"],
                               "expired": progress["expired"]},
                    "deferred": progress["waited"], "total": progress["total"]}
        latest = {due.index: record for due, record, _ in changes if due.job_id == job_id}
        counts = {"sent": 0, "bounced": 0, "expired": 0}
        deferred = total = 0
        prefix = b"R" + job_id.encode() + b"/"
        for key, value in self.db.iterator(prefix=prefix):
            record = latest.get(int(key[len(prefix):], 16)) or json.loads(value)
            if bulkrecords.is_unit(record):  # a bulk transaction record: counted, not expanded
                tally, waited = bulkrecords.counts(record)
                for state, n in tally.items():
                    counts[state] = counts.get(state, 0) + n
                total += sum(tally.values())
                deferred += waited
                continue
            total += 1
            state = record.get("state", "queued")
            counts[state] = counts.get(state, 0) + 1
            deferred += record.get("attempts", 0) > 1
        return {"id": f"{job_id}/finished", "job_id": job_id, "address": "", "state": "finished",
                "code": None, "reply": "", "at": iso(at), "meta": spec.get("meta") or {},
                "counts": counts, "deferred": deferred, "total": total}

    # ------------------------------------------------------------ events

    def pending_events(self, limit: int) -> list[tuple[bytes, dict[str, Any]]]:
        return [(k, json.loads(v)) for k, v in
                zip(*_take(self.db.iterator(prefix=b"E"), limit), strict=True)]

    def drop_events(self, keys: list[bytes]) -> None:
        with self.db.write_batch(sync=False) as wb:
            for key in keys:
                wb.delete(key)

    def count_events(self) -> int:
        return sum(1 for _ in self.db.iterator(prefix=b"E", include_value=False))

    # ------------------------------------------------------------ clean-up

    def purge_finished(self, older_than_ms: int) -> int:
        """Forget finished jobs (spec and records) older than ``older_than_ms``.

        A job's idempotency key outlives it: it is queued for ``purge_keys``.
        """
        stop = b"X%016d" % older_than_ms
        purged = 0
        at = now_ms()
        for key in self.db.iterator(start=b"X", stop=stop, include_value=False):
            job_id = key[17:]
            spec = self.job_spec(job_id.decode())
            with self.db.write_batch() as wb:
                if spec and spec.get("idempotency_key"):
                    wb.put(b"Y%016d%s" % (at, spec["idempotency_key"].encode()), b"")
                wb.delete(b"J" + job_id)
                for rk in self.db.iterator(prefix=b"R" + job_id + b"/", include_value=False):
                    wb.delete(rk)
                wb.delete(key)
            purged += 1
        return purged

    def purge_keys(self, older_than_ms: int) -> int:
        """Forget idempotency keys whose job was purged before ``older_than_ms``."""
        purged = 0
        for key in self.db.iterator(start=b"Y", stop=b"Y%016d" % older_than_ms,
                                    include_value=False):
            with self.db.write_batch() as wb:
                wb.delete(b"K" + key[17:])
                wb.delete(key)
            purged += 1
        return purged


# A job's progress record (``P``): records still pending ("left") and, since the job
# was spooled, what became of the recipients that finished (the "finished" event).
_TALLIED = ("sent", "bounced", "expired", "waited", "total")


def _progress(left: int) -> dict[str, int]:
    return {"left": left, "sent": 0, "bounced": 0, "expired": 0, "waited": 0, "total": 0}


def _read_progress(raw: bytes | None) -> dict[str, Any]:
    """A job's ``P``; a bare number (spooled by an earlier Karl) has no counts: total None."""
    if raw is None:
        return {"left": 0, "total": None}
    if raw[:1] != b"{":
        return {"left": int(raw), "total": None}
    return json.loads(raw)


def _tally(progress: dict[str, int], record: dict[str, Any]) -> None:
    """Count a finished record: a recipient, or a bulk transaction record's recipients."""
    if bulkrecords.is_unit(record):
        tally, waited = bulkrecords.counts(record)
        for state in ("sent", "bounced", "expired"):
            progress[state] += tally.get(state, 0)
        progress["total"] += sum(tally.values())
        progress["waited"] += waited
        return
    state = record.get("state", "queued")
    if state in ("sent", "bounced", "expired"):
        progress[state] += 1
    progress["total"] += 1
    progress["waited"] += record.get("attempts", 0) > 1


def _take(iterator: Any, limit: int) -> tuple[list[bytes], list[bytes]]:
    keys: list[bytes] = []
    values: list[bytes] = []
    for key, value in iterator:
        keys.append(key)
        values.append(value)
        if len(keys) >= limit:
            break
    return keys, values
