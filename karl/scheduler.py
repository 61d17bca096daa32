"""The delivery loop: take due recipients from the spool, deliver in batches, record outcomes.

One shape for every batch (STYLE.md #3): claim (in memory: the queue entry
stays on disk until the outcome is written, so a kill -9 leaves it queued),
deliver through a runner (in this process or in worker processes), turn each
outcome into the recipient's new state with the retry policy, and write the
results and their delivery events in one batch.

Results are written by a thread of their own (``Recorder``), never on the event
loop: a synced LevelDB write waits for the disk (tens of milliseconds on a
busy one), and while the loop waited no batch was handed out and the workers
ran dry. Batches that finish while a write is under way go together in the
next one (group commit): one sync for all of them. A batch's recipients stay
in flight until their outcome is on disk, so nothing is handed out twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from typing import Any

from karl import bulk, bulkrecords, bulksend, metrics
from karl.config import KarlConfig
from karl.delivery import Batch, Deliverer, Outcome, worker_deliver, worker_init
from karl.footer import FooterError
from karl.relays import RelayPool
from karl.smtpclient import Reply
from karl.spool import DeadLetter, Due, Spool, iso, now_ms
from karl.timeline import Timelines
from platformcore import backoff

log = logging.getLogger(__name__)


class InProcessRunner:
    def __init__(self, config: KarlConfig) -> None:
        self.deliverer = Deliverer(config)

    async def __call__(self, batch: Batch) -> list[Outcome]:
        return await self.deliverer.deliver(batch)

    async def close(self) -> None:
        await self.deliverer.close()


class PoolRunner:
    """Batches go to ``workers`` processes (rendering and RSA use every core)."""

    def __init__(self, config: KarlConfig) -> None:
        self.config = config
        self.pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        pool = concurrent.futures.ProcessPoolExecutor(
            self.config.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=worker_init, initargs=(self.config, os.getpid()))
        # Start every worker now (the pool would start them one at a time, on demand,
        # and a fan-out would wait for their imports and key loading).
        for _ in range(self.config.workers):
            pool.submit(time.sleep, 0.2)
        return pool

    async def __call__(self, batch: Batch) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, worker_deliver, batch)
        except concurrent.futures.process.BrokenProcessPool:
            log.error("a delivery worker died; starting new ones")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            raise

    async def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class Recorder:
    """Write outcomes in a thread, the batches that finish meanwhile in one synced write.

    ``record`` returns when the outcome is on disk (synced). A retry's new queue
    entry is written later than its due time was chosen, but never below the
    queue's floor: the recipient's old entry, older still, stays on disk until
    the same write, and no scan moves the floor past a live entry.
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="spool-record")
        self.pending: list[tuple[list[Any], list[dict[str, Any]], asyncio.Future[None],
                                 Sequence[DeadLetter]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def record(self, changes: list[Any], events: list[dict[str, Any]],
                     dead: Sequence[DeadLetter] = ()) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((changes, events, done, dead))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            group, self.pending = self.pending, []
            changes = [c for item in group for c in item[0]]
            events = [e for item in group for e in item[1]]
            dead = [d for item in group for d in item[3]]
            try:
                await loop.run_in_executor(self.thread, self.spool.record, changes, events, True,
                                           dead)
            except Exception as exc:  # the disk: each batch's task reports it
                for _, _, done, _ in group:
                    done.set_exception(exc)
            else:
                for _, _, done, _ in group:
                    done.set_result(None)

    def close(self) -> None:
        self.thread.shutdown(wait=True)


def backoff_ms(attempts: int, base: float, cap: float) -> int:
    """Exponential backoff with +-20% jitter (platformcore.backoff), in milliseconds."""
    return int(backoff.delay(attempts, base, cap) * 1000)


class Scheduler:
    def __init__(self, config: KarlConfig, spool: Spool, relays: RelayPool,
                 runner: Any) -> None:
        self.config, self.spool, self.relays, self.runner = config, spool, relays, runner
        self.in_flight: set[bytes] = set()
        self.wakeup = asyncio.Event()
        self.slot_free = asyncio.Event()
        self.events_waiting = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.specs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.stopping = False
        self.max_in_flight = max(config.concurrency, config.batch_size)
        self.cursor = b""  # the last queue key handed out: the next scan starts after it
        self.timelines = Timelines()
        self.recorder = Recorder(spool)
        self.bulk_deliverer: Deliverer | None = None  # bulk transactions: in this process
        self._metric_children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def spec(self, job_id: str) -> dict[str, Any] | None:
        spec = self.specs.get(job_id)
        if spec is None:
            spec = self.spool.job_spec(job_id)
            if spec is None:
                return None
            self.specs[job_id] = spec
            while len(self.specs) > 256:
                self.specs.popitem(last=False)
        return spec

    async def run(self) -> None:
        metrics.QUEUED.set(self.spool.count_queued())
        while not self.stopping:
            room = self.max_in_flight - len(self.in_flight)
            if room < self.config.batch_size and self.in_flight:
                self.slot_free.clear()
                await self.slot_free.wait()
                continue
            now = now_ms()
            due = self.spool.due(now, max(room, 1), self.in_flight, after=self.cursor)
            if not due and self.cursor:
                self.cursor = b""  # the end was reached: look again from the start
                due = self.spool.due(now, max(room, 1), self.in_flight)
            if not due:
                self.cursor = b""
                await self._sleep(now)
                continue
            self.cursor = due[-1].key
            self._dispatch(due)
            await asyncio.sleep(0)

    async def _sleep(self, now: int) -> None:
        """Wait until something can be done: a new job, a finished batch, or the next due time.

        Nothing was due but what is already in flight, so the wait is for a
        batch to finish (its failures may come due again), a new job, or the
        first entry due in the future, never a poll of the in-flight entries.
        """
        nxt = self.spool.next_due(after=now) if self.in_flight else self.spool.next_due()
        timeout = 1.0 if nxt is None else min(1.0, max(0.01, (nxt - now_ms()) / 1000))
        self.wakeup.clear()
        self.slot_free.clear()
        waits = [asyncio.ensure_future(self.wakeup.wait()),
                 asyncio.ensure_future(self.slot_free.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    def _dispatch(self, due: list[Due]) -> None:
        by_job: dict[str, list[Due]] = defaultdict(list)
        for item in due:
            by_job[item.job_id].append(item)
        for job_id, items in by_job.items():
            spec = self.spec(job_id)
            message = self.spool.message(job_id)
            if spec is None or message is None:
                log.error("job %s has queued recipients but no %s; dropping them", job_id,
                          "spec" if spec is None else "message")
                self._finish_orphans(items)
                continue
            if spec.get("units"):  # bulk transaction records (karl.bulkrecords)
                for item in items:
                    self._start_unit(job_id, message, spec, item)
                continue
            if bulk.is_bulk(spec):  # spooled before transaction records: one per recipient
                for part in bulk.chunks(items, self.config.batch_size,
                                        lambda d: d.record["address"]):
                    relay, probe = self.relays.choose()
                    self._start(Batch(job_id, relay, message, spec,
                                      [(d.index, d.record) for d in part]), part, probe)
                continue
            size = self.config.batch_size
            if len(message) > 1 << 20:
                size = max(1, min(size, (8 << 20) // len(message)))
            pos = 0
            while pos < len(items):
                relay, probe = self.relays.choose()
                chunk = items[pos:pos + (1 if probe else size)]
                pos += len(chunk)
                self._start(Batch(job_id, relay, message, spec,
                                  [(d.index, d.record) for d in chunk]), chunk, probe)

    def _finish_orphans(self, items: list[Due]) -> None:
        """Expire them, through the recorder like every outcome (in flight until written)."""
        changes = [(d, d.record | {"state": "expired", "reply": "job data missing"}, None)
                   for d in items]
        # a bulk transaction record's recipients still pending are dead letters one by one
        dead: list[DeadLetter] = [
            (d.job_id, number, rec["address"], "expired", None, "job data missing")
            for d in items if bulkrecords.is_unit(d.record)
            for number, rec in bulkrecords.expand(d.record)
            if rec.get("state") not in bulkrecords.FINAL]
        for d in items:
            self.in_flight.add(d.key)

        async def write() -> None:
            try:
                await self.recorder.record(changes, [], dead)
            finally:
                for d in items:
                    self.in_flight.discard(d.key)
                self.slot_free.set()

        task = asyncio.create_task(write())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _start(self, batch: Batch, dues: list[Due], probe: bool) -> None:
        for d in dues:
            self.in_flight.add(d.key)
        metrics.IN_FLIGHT.set(len(self.in_flight))
        task = asyncio.create_task(self._run_batch(batch, dues, probe))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_batch(self, batch: Batch, dues: list[Due], probe: bool) -> None:
        try:
            try:
                outcomes = await self.runner(batch)
            except Exception as exc:  # a bug or a dead worker: retry later, lose nothing
                log.exception("delivery of a batch of job %s failed", batch.job_id)
                outcomes = [Outcome(batch.job_id, i, "deferred", None,
                                    f"4.3.0 internal error: {type(exc).__name__}: {exc}",
                                    batch.relay) for i, _ in batch.recipients]
                await self._apply(batch, dues, outcomes, probe, judge_relay=False)
            else:
                await self._apply(batch, dues, outcomes, probe)
        finally:
            for d in dues:
                self.in_flight.discard(d.key)
            metrics.IN_FLIGHT.set(len(self.in_flight))
            self.slot_free.set()

    async def _apply(self, batch: Batch, dues: list[Due], outcomes: list[Outcome],
                     probe: bool, judge_relay: bool = True) -> None:
        spec = batch.spec
        deadline = spec["created"] + spec.get("lifetime", self.config.lifetime) * 1000
        wanted = set(spec.get("events") or ())
        by_index = {d.index: d for d in dues}
        now = now_ms()
        changes = []
        events = []
        relay_failed = [o for o in outcomes if o.relay_failed]
        relay_answered = any(not o.relay_failed for o in outcomes)
        tally: dict[str, int] = {}
        latency = metrics.LATENCY.labels(relay=batch.relay)
        bulk_job, shared_delay = bulk.is_bulk(spec), {}
        for outcome in outcomes:
            due = by_index.get(outcome.index)
            if due is None:
                continue
            record = dict(due.record)
            record["attempts"] = record.get("attempts", 0) + 1
            record["code"], record["reply"] = outcome.code, outcome.reply[:1000]
            record["relay"] = outcome.relay
            next_due: int | None = None
            state = outcome.state
            if state == "deferred":
                if now >= deadline:
                    state = "expired"
                else:
                    # a relay that failed is not the recipient's fault: when another
                    # relay is healthy, go again at once (the choice avoids this one)
                    delay = (0 if outcome.relay_failed
                             and self.relays.any_healthy_besides(outcome.relay)
                             else backoff_ms(record["attempts"], self.config.retry_base,
                                             self.config.retry_max))
                    if bulk_job:  # retried together: the same delay, so one transaction again
                        delay = shared_delay.setdefault(record["attempts"], delay)
                    next_due = min(now + delay, deadline)
                    record["next_attempt"] = next_due
            if next_due is None:
                record.pop("next_attempt", None)
                record["done_at"] = now
            record["state"] = state
            changes.append((due, record, next_due))
            tally[state] = tally.get(state, 0) + 1
            latency.observe(outcome.seconds)
            if state in wanted:
                # the id names this outcome (job, recipient, attempt): messageserver
                # applies an event once however often it is posted (deliveryevents)
                events.append({"id": f"{batch.job_id}/{due.index}/{record['attempts']}",
                               "job_id": batch.job_id, "address": record["address"],
                               "state": state, "code": outcome.code, "reply": outcome.reply,
                               "at": iso(now), "meta": spec.get("meta") or {}})
        await self.recorder.record(changes, events)  # delivered is durable before forgotten
        self.timelines.record(batch.job_id, (o.signed_at for o in outcomes),
                              (o.replied_at for o in outcomes if o.state == "sent"))
        for state, count in tally.items():
            metrics.OUTCOMES.labels(relay=batch.relay, state=state).inc(count)
        if judge_relay and (relay_failed or relay_answered):
            self.relays.report(batch.relay, ok=relay_answered,
                               error=relay_failed[0].reply if relay_failed else "", probe=probe)
        elif probe:  # nothing was learnt about the relay: let a later batch probe it
            self.relays.relays[batch.relay].probing = False
        for name, health in self.relays.relays.items():
            metrics.RELAY_HEALTHY.labels(relay=name).set(1 if health.healthy else 0)
        done = sum(1 for _, _, nd in changes if nd is None)
        metrics.QUEUED.dec(done)
        if events:
            self.events_waiting.set()

    # ------------------------------------------------------------ bulk transaction records

    def _bulk(self) -> Deliverer:
        """The deliverer of bulk transactions: the server process's own.

        A bulk job is signed once, so it needs no worker's CPU, and a worker
        hop would cost more (pickling the batch and its outcomes) than the
        transaction itself.
        """
        if self.bulk_deliverer is None:
            self.bulk_deliverer = (self.runner.deliverer
                                   if isinstance(self.runner, InProcessRunner)
                                   else Deliverer(self.config))
        return self.bulk_deliverer

    def _start_unit(self, job_id: str, message: bytes, spec: dict[str, Any], due: Due) -> None:
        relay, probe = self.relays.choose()
        self.in_flight.add(due.key)
        metrics.IN_FLIGHT.set(len(self.in_flight))
        task = asyncio.create_task(self._run_unit(job_id, message, spec, due, relay, probe))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_unit(self, job_id: str, message: bytes, spec: dict[str, Any], due: Due,
                        relay: str, probe: bool) -> None:
        """One transaction of a bulk job: its pending recipients, the outcome written once."""
        sent = bulkrecords.pending(due.record)
        again = True
        if not sent:  # everyone finished apart (not reached by apply): close the record
            log.error("bulk record %s of job %s had nobody left to send to", due.index, job_id)
            self.in_flight.discard(due.key)
            self._finish_orphans([due])
            return
        try:
            judge = True
            try:
                result = await self._send_unit(job_id, message, spec, due, sent, relay)
            except Exception as exc:  # a bug: retry later, lose nothing
                log.exception("a bulk transaction of job %s failed", job_id)
                result = bulkrecords.TxnResult(Reply(451, f"4.3.0 internal error: "
                                                          f"{type(exc).__name__}: {exc}"))
                judge = False
            again = await self._apply_unit(job_id, spec, due, sent, result, relay, probe,
                                           judge)
        finally:
            self.in_flight.discard(due.key)
            metrics.IN_FLIGHT.set(len(self.in_flight))
            # Wake the scheduler only when that can lead somewhere: it waits for room,
            # or some recipients go again. A finished transaction while there is room
            # would only make it scan the queue past every transaction still in flight
            # (hundreds of them in a large bulk job) for nothing.
            if again or self.max_in_flight - len(self.in_flight) <= self.config.batch_size:
                self.slot_free.set()

    async def _send_unit(self, job_id: str, message: bytes, spec: dict[str, Any], due: Due,
                         sent: list[int], relay: str) -> bulkrecords.TxnResult:
        deliverer = self._bulk()
        try:
            copy = bulk.signed_copy(deliverer, Batch(job_id, relay, message, spec, []))
        except FooterError as exc:
            return bulkrecords.TxnResult(Reply(554, f"5.6.0 footer could not be rendered: "
                                                    f"{exc}"))
        signed_at = time.time()
        rcpts = due.record["rcpts"]
        result = await bulksend.send(deliverer.transport(relay), spec.get("mail_from", ""),
                                     [rcpts[p] for p in sent], copy)
        took = result.reply is not None and result.reply.code < 300 and \
            len(result.refused) < len(sent)
        self.timelines.record(job_id, (signed_at,), (time.time(),) if took else ())
        return result

    async def _apply_unit(self, job_id: str, spec: dict[str, Any], due: Due, sent: list[int],
                          result: bulkrecords.TxnResult, relay: str, probe: bool,
                          judge_relay: bool) -> bool:
        """Write the transaction's outcome (synced): one record, events and dead letters
        per recipient only where a report asks for them. True: some recipients go again."""
        now = now_ms()
        deadline = spec["created"] + spec.get("lifetime", self.config.lifetime) * 1000
        applied = bulkrecords.apply(due.record, sent, result, now, expired=now >= deadline)
        record = applied.record
        record["relay"] = relay
        next_due: int | None = None
        if applied.deferred:
            delay = (0 if result.relay_failed and self.relays.any_healthy_besides(relay)
                     else backoff_ms(record["attempts"], self.config.retry_base,
                                     self.config.retry_max))
            next_due = record["next_attempt"] = min(now + delay, deadline)
        wanted = set(spec.get("events") or ())
        events: list[dict[str, Any]] = []
        dead: list[DeadLetter] = []
        at, meta, attempts = iso(now), spec.get("meta") or {}, record["attempts"]
        for number, address, state, code, reply in applied.finished(
                wanted | {"bounced", "expired"}):
            if state != "sent":
                dead.append((job_id, number, address, state, code, reply))
            if state in wanted:
                events.append({"id": f"{job_id}/{number}/{attempts}", "job_id": job_id,
                               "address": address, "state": state, "code": code,
                               "reply": reply, "at": at, "meta": meta})
        if applied.deferred and "deferred" in wanted:
            first, rcpts = record["first"], record["rcpts"]
            for pos in bulkrecords.pending(record):
                events.append({"id": f"{job_id}/{first + pos}/{attempts}", "job_id": job_id,
                               "address": rcpts[pos], "state": "deferred",
                               "code": record["code"], "reply": record["reply"], "at": at,
                               "meta": meta})
        await self.recorder.record([(due, record, next_due)], events, dead)
        for state, count in applied.tally.items():
            self._metric(metrics.OUTCOMES, relay, state).inc(count)
        self._metric(metrics.LATENCY, relay).observe((now_ms() - now) / 1000)
        metrics.QUEUED.dec(len(sent) - applied.tally.get("deferred", 0))
        if judge_relay:
            self.relays.report(relay, ok=not result.relay_failed,
                               error=result.error or str(result.reply), probe=probe)
        elif probe:
            self.relays.relays[relay].probing = False
        for name, health in self.relays.relays.items():
            self._metric(metrics.RELAY_HEALTHY, name).set(1 if health.healthy else 0)
        if events:
            self.events_waiting.set()
        return applied.deferred

    def _metric(self, family: Any, *labels: str) -> Any:
        """A metric's child for ``labels``, looked up once (a transaction's outcome takes a
        few of them, and prometheus_client's ``labels`` costs more than the update)."""
        key = (family, labels)
        child = self._metric_children.get(key)
        if child is None:
            child = self._metric_children[key] = family.labels(*labels)
        return child

    async def stop(self) -> None:
        self.stopping = True
        self.wakeup.set()
        self.slot_free.set()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=30)
        self.recorder.close()
        if self.bulk_deliverer is not None and not isinstance(self.runner, InProcessRunner):
            await self.bulk_deliverer.close()
