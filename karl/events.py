"""Report delivery events to messageserver, retried until it takes them.

Events are written to the spool with the outcome that caused them, so they
survive a restart; this loop posts them in batches and deletes them only
after a 2xx answer.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from karl import metrics
from karl.spool import Spool
from platformcore import backoff
from platformcore.internalhttp import auth_headers

log = logging.getLogger(__name__)


class EventReporter:
    def __init__(self, spool: Spool, url: str, token: str, batch: int = 500) -> None:
        self.spool, self.url, self.token, self.batch = spool, url, token, batch
        self.waiting = asyncio.Event()
        self.stopping = False

    async def run(self) -> None:
        failures = 0
        async with httpx.AsyncClient(timeout=30, headers=auth_headers(self.token)) as client:
            while not self.stopping:
                pending = self.spool.pending_events(self.batch)
                metrics.EVENTS_PENDING.set(len(pending))
                if not pending:
                    self.waiting.clear()
                    try:
                        await asyncio.wait_for(self.waiting.wait(), 1.0)
                    except TimeoutError:
                        pass
                    continue
                try:
                    response = await client.post(self.url, json={
                        "events": [event for _, event in pending]})
                    ok = 200 <= response.status_code < 300
                    problem = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                if ok:
                    self.spool.drop_events([key for key, _ in pending])
                    failures = 0
                    continue
                failures += 1
                delay = backoff.delay(failures, 0.5, 60.0, jitter=0)
                log.warning("messageserver did not take %d delivery events (%s); retrying in "
                            "%.0fs", len(pending), problem, delay)
                await asyncio.sleep(delay)
