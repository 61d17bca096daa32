"""One batch of one job's recipients: compose each copy and hand it to a transport.

This is the work that needs CPU (rendering, hashing, RSA) and sockets, so it
can run in worker processes (``KARL_WORKERS``) as well as in the server
process; the spool stays in the server process, which turns the returned
``Outcome`` list into state. Protocol codes end here: an outcome says sent,
deferred or bounced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from karl import bulk
from karl.compose import Composer
from karl.config import KarlConfig
from karl.dkimkeys import ed25519_path, ed25519_selector, ensure_ed25519_key, ensure_key
from karl.dkimsign import SigningKey, load_key
from karl.footer import FooterError
from karl.transports import Item, Result, Transport, make_transport

log = logging.getLogger(__name__)

CHUNK = 16  # copies handed to the transport at a time (one SMTP connection's share)


@dataclass
class Batch:
    job_id: str
    relay: str
    message: bytes
    spec: dict[str, Any]
    recipients: list[tuple[int, dict[str, Any]]]  # (index, spool record)


@dataclass
class Outcome:
    job_id: str
    index: int
    state: str  # sent, deferred, bounced
    code: int | None
    reply: str
    relay: str
    relay_failed: bool = False
    seconds: float = 0.0
    signed_at: float = 0.0  # epoch seconds: its copy was composed and signed (0: never)
    replied_at: float = 0.0  # epoch seconds: the transport had its reply (0: never)


@dataclass
class Deliverer:
    """The per-process state of delivery: keys, open transports, composed jobs."""

    config: KarlConfig
    keys: list[SigningKey] = field(default_factory=list)
    transports: dict[str, Transport] = field(default_factory=dict)
    composers: OrderedDict[str, Composer] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        path = ensure_key(self.config.dkim_key_path)
        self.keys = [load_key(path.read_bytes(), self.config.domain, self.config.dkim_selector)]
        if self.config.dkim_ed25519:
            ensure_ed25519_key(path)
            self.keys.append(load_key(ed25519_path(path).read_bytes(), self.config.domain,
                                      ed25519_selector(self.config.dkim_selector)))

    def transport(self, relay: str) -> Transport:
        transport = self.transports.get(relay)
        if transport is None:
            transport = self.transports[relay] = make_transport(relay, self.config)
        return transport

    def composer(self, batch: Batch) -> Composer:
        composer = self.composers.get(batch.job_id)
        if composer is None:
            spec = batch.spec
            composer = Composer(batch.message, headers=spec.get("headers") or [],
                                remove_headers=spec.get("remove_headers") or [],
                                footer=spec.get("footer"), variables=spec.get("vars"),
                                keys=self.keys if spec.get("dkim", True) else [],
                                domain=self.config.domain)
            self.composers[batch.job_id] = composer
            while len(self.composers) > 16:
                self.composers.popitem(last=False)
        else:
            self.composers.move_to_end(batch.job_id)
        return composer

    async def deliver(self, batch: Batch) -> list[Outcome]:
        """Compose and send a batch, overlapping the two.

        Copies are composed a chunk at a time and each chunk is handed to the
        transport at once, so the sockets carry one chunk while the next is
        being signed (sending is bound by round trips, composing by CPU).
        A bulk job's batch is one copy for all (karl.bulk).
        """
        if bulk.is_bulk(batch.spec):
            return await bulk.deliver(self, batch, Outcome)
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes: list[Outcome] = []
        composer = self.composer(batch)
        transport = self.transport(batch.relay)
        default_from = batch.spec.get("mail_from", "")
        sending: list[asyncio.Task[tuple[list[Result], float]]] = []
        items: list[Item] = []
        signed_at: dict[int, float] = {}  # per copy, for the job's timeline (karl.timeline)
        for index, rec in batch.recipients:
            try:
                data = composer.compose(rec.get("vars"), rec.get("headers") or ())
            except FooterError as exc:
                outcomes.append(Outcome(batch.job_id, index, "bounced", None,
                                        f"5.6.0 footer could not be rendered: {exc}",
                                        batch.relay))
                continue
            items.append((index, rec.get("mail_from") or default_from, rec["address"], data))
            if len(items) >= CHUNK:
                now = time.time()
                signed_at.update((item[0], now) for item in items)
                sending.append(asyncio.create_task(_timed(transport, items)))
                items = []
                await asyncio.sleep(0)  # let replies in and the next writes out
        if items:
            now = time.time()
            signed_at.update((item[0], now) for item in items)
            sending.append(asyncio.create_task(_timed(transport, items)))
        results = [(r, replied) for part, replied in await asyncio.gather(*sending)
                   for r in part]
        elapsed = loop.time() - started
        for result, replied in results:
            at = signed_at.get(result.key, 0.0)
            reply = result.reply
            if reply is None:
                outcomes.append(Outcome(batch.job_id, result.key, "deferred", None,
                                        f"4.4.1 {result.error}", batch.relay, True, elapsed,
                                        at, replied))
            elif 200 <= reply.code < 300:
                outcomes.append(Outcome(batch.job_id, result.key, "sent", reply.code,
                                        reply.text, batch.relay, False, elapsed, at, replied))
            elif reply.code >= 500:
                outcomes.append(Outcome(batch.job_id, result.key, "bounced", reply.code,
                                        reply.text, batch.relay, False, elapsed, at, replied))
            else:
                outcomes.append(Outcome(batch.job_id, result.key, "deferred", reply.code,
                                        reply.text, batch.relay, result.relay_failed, elapsed,
                                        at, replied))
        return outcomes

    async def close(self) -> None:
        for transport in self.transports.values():
            await transport.close()


async def _timed(transport: Transport, items: list[Item]) -> tuple[list[Result], float]:
    """The transport's results and the moment they were in (for karl.timeline)."""
    results = await transport.send(items)
    return results, time.time()


# ---- worker processes: one Deliverer and one event loop each, kept between batches

_worker: Deliverer | None = None
_loop: asyncio.AbstractEventLoop | None = None


def worker_init(config: KarlConfig, parent: int | None = None) -> None:
    """Set up a delivery worker; it dies with Karl (``parent``), never outlives it.

    A worker left running after Karl's death would finish its batch and report
    it to nobody, and the restarted Karl would send the same copies again.
    """
    global _worker, _loop
    from karl.memory import limit_heap_growth
    from platformcore.gcstartup import freeze_startup_objects
    from platformcore.proctree import die_with_parent

    die_with_parent(parent)

    limit_heap_growth()
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    _worker = Deliverer(config)
    freeze_startup_objects()  # imports and keys: the collector skips them from now on


def worker_deliver(batch: Batch) -> list[Outcome]:
    assert _worker is not None and _loop is not None, "worker_init was not called"
    return _loop.run_until_complete(_worker.deliver(batch))
