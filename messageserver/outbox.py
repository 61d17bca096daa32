"""Hand queued mail to Karl, at least once, in the order it was queued.

Rows are written by the pipeline in the same transaction as the archive, then
claimed here with a conditional UPDATE (two dispatchers never take the same
row), submitted, and marked done. Karl being down only delays: the row goes
back to pending with a growing delay. Karl refusing a row (a bug of ours) is
reported, shown and retried by messageserver.outboxfailures, never dropped. A
row claimed by a dispatcher that died is taken back after CLAIM_TIMEOUT and
submitted again with the same Idempotency-Key, so Karl answers with the job it
already has: sent once.

A post's fan-out is one row of kind "fanout" (messageserver.fanoutqueue): each
pass that claims it builds its next job (messageserver.fanoutcontinuation),
which is handed to Karl in the same pass; the row goes back to pending until
its last job is built, so a killed dispatcher resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from groups.models import OutboxItem
from messageserver import fanoutcontinuation, outboxfailures
from platformcore import backoff

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=5)
CLAIMER = f"{socket.gethostname()}:{os.getpid()}"[:100]
MAX_DELAY = 600.0
# A row pinned to a node that is down is looked at this often at most, so it leaves
# soon after the node is back (karl.nodes marks it healthy again within KARL_HEALTH_TTL).
NODE_DOWN_MAX_DELAY = 30.0
_wakeup = threading.Event()


def enqueue(kind: str, payload: dict[str, Any], description: str = "") -> OutboxItem:
    """Queue a Karl submission in the current transaction; dispatch starts after commit."""
    item = OutboxItem.objects.create(kind=kind, payload=payload, description=description[:200])
    transaction.on_commit(_wakeup.set)
    return item


def enqueue_mail(description: str = "", **fields: Any) -> OutboxItem:
    """Queue one transactional message (Karl's POST /v1/mail shape)."""
    return enqueue(OutboxItem.Kind.MAIL, fields, description)


def idempotency_key(item: OutboxItem) -> str:
    """The row's identity as Karl's Idempotency-Key: a row submitted again (its
    dispatcher was killed before marking it done) is answered with the first job.
    The creation time is part of it, so a database started afresh next to an old
    spool never reuses a key."""
    return f"outbox-{item.id}-{int(item.created_at.timestamp() * 1_000_000)}"


def _submit(item: OutboxItem, client: Any) -> str:
    key = idempotency_key(item)
    if item.kind == OutboxItem.Kind.JOB:
        return client.submit_job(item.payload, idempotency_key=key)
    fields = dict(item.payload)
    return client.send_mail(idempotency_key=key, **fields)


def dispatch_due(client: Any | None = None, limit: int = 50) -> int:
    """Submit every due row (one pass); returns how many were handed to Karl.

    Without ``client`` each row goes to its Karl node (messageserver.karlnodes:
    split by destination domain over the healthy nodes of KARL_URLS, the node
    recorded on the row before the hand-off); with one, everything goes to it.
    """
    from karl.client import KarlError, KarlUnavailable
    from messageserver.karlnodes import NodeDown, Router

    router = Router(client)
    now = timezone.now()
    OutboxItem.objects.filter(state=OutboxItem.State.SENDING,
                              claimed_at__lt=now - CLAIM_TIMEOUT).update(
        state=OutboxItem.State.PENDING)
    outboxfailures.release_due()
    ids = list(OutboxItem.objects.filter(state=OutboxItem.State.PENDING,
                                         next_attempt_at__lte=now)
               .order_by("id").values_list("id", flat=True)[:limit])
    sent = 0
    for item_id in ids:
        if not OutboxItem.objects.filter(id=item_id, state=OutboxItem.State.PENDING).update(
                state=OutboxItem.State.SENDING, claimed_at=timezone.now(),
                claimed_by=CLAIMER):
            continue  # another dispatcher took it
        item = OutboxItem.objects.get(id=item_id)
        if item.kind == OutboxItem.Kind.FANOUT:  # a post's fan-out: build its next job
            try:
                job = fanoutcontinuation.next_slice(item)
            except DatabaseError:  # the database went away: this pass fails, as for any row
                raise
            except Exception as exc:  # a bug of ours: reported, shown, retried; never stuck
                log.exception("building the next job of fan-out %s failed", item.id)
                outboxfailures.record_build_failure(item, repr(exc))
                continue
            if job is None:
                continue
            item = job  # handed to Karl now, like any claimed row
        try:
            parts = router.plan(item)
        except NodeDown as exc:  # pinned to a node that is down: retried soon after it returns
            _retry_later(item, str(exc), max_delay=NODE_DOWN_MAX_DELAY)
            continue
        except KarlUnavailable as exc:  # no node is healthy: the rest would wait the same way
            _retry_later(item, str(exc))
            break
        down = False  # the one Karl (no KARL_URLS, or a client given) is down
        for part in parts:  # several only when split over several nodes
            try:
                job_id = _submit(part, router.client(part.karl_node))
            except KarlUnavailable as exc:  # not reached, 5xx, 429 (platformcore.internalhttp)
                router.mark_down(part.karl_node)
                if router.may_replan(part, exc):
                    router.replan(part)  # certainly not at that node: the healthy ones take it
                    log.warning("Karl node %s did not take outbox item %s, planning it again: %s",
                                part.karl_node, part.id, exc)
                else:
                    _retry_later(part, str(exc))
                down = not router.several
            except KarlError as exc:  # Karl refused the row (4xx)
                # A platform bug, not the sender's: reported, shown, retried (outboxfailures).
                outboxfailures.record_refusal(part, exc.status, exc.body, str(exc))
            else:
                OutboxItem.objects.filter(id=part.id).update(
                    state=OutboxItem.State.DONE, karl_job_id=str(job_id)[:64],
                    attempts=part.attempts + 1)
                sent += 1
        if down:
            break  # the one Karl is down: the rest would fail the same way
    return sent


def _retry_later(item: OutboxItem, error: str, max_delay: float = MAX_DELAY) -> None:
    delay = backoff.delay(item.attempts + 1, 1.0, max_delay)
    OutboxItem.objects.filter(id=item.id).update(
        state=OutboxItem.State.PENDING, attempts=item.attempts + 1,
        next_attempt_at=timezone.now() + timedelta(seconds=delay), last_error=error[:5000])
    log.warning("Karl unavailable for outbox item %s, retrying in %.0fs: %s",
                item.id, delay, error)


def reclaim_orphans() -> int:
    """Rows claimed by a process of this host that is gone (kill -9): pending again now.

    Without this they would wait CLAIM_TIMEOUT; rows of live processes, here or
    on other hosts, are left alone.
    """
    host = socket.gethostname()
    orphans = []
    for claimer in (OutboxItem.objects.filter(state=OutboxItem.State.SENDING,
                                              claimed_by__startswith=f"{host}:")
                    .values_list("claimed_by", flat=True).distinct()):
        pid = int(claimer.rsplit(":", 1)[1]) if claimer.rsplit(":", 1)[1].isdigit() else 0
        if pid and pid != os.getpid() and not _alive(pid):
            orphans.append(claimer)
    if not orphans:
        return 0
    count = OutboxItem.objects.filter(state=OutboxItem.State.SENDING,
                                      claimed_by__in=orphans).update(
        state=OutboxItem.State.PENDING)
    log.warning("took back %d outbox rows claimed by dead processes %s", count, orphans)
    return count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_own_claims() -> int:
    """Rows this process claimed in a pass that failed (the database went away): pending again.

    Only the dispatcher thread claims rows, so after a failed pass none of this
    process's claims is in progress; without this they would wait CLAIM_TIMEOUT.
    Karl may already have one of them (at least once: the in-flight window).
    """
    count = OutboxItem.objects.filter(state=OutboxItem.State.SENDING,
                                      claimed_by=CLAIMER).update(state=OutboxItem.State.PENDING)
    if count:
        log.warning("took back %d outbox rows left claimed by a failed pass", count)
    return count


def run_dispatcher(stop: threading.Event, poll: float = 1.0) -> None:
    """The messageserver's background loop: dispatch on every commit and every ``poll``.

    It never dies: while the database is unreachable each pass fails (logged
    once, not every ``poll``) and the next one tries again.
    """
    try:
        reclaim_orphans()
    except Exception:
        log.exception("could not take back orphaned outbox rows")
    failing_since = 0.0
    while not stop.is_set():
        _wakeup.wait(poll)
        _wakeup.clear()
        try:
            if failing_since:
                release_own_claims()
            while dispatch_due() and not stop.is_set():
                pass
        except Exception:
            if not failing_since:
                failing_since = time.monotonic()
                log.exception("outbox dispatch failed; retrying every %.0fs", poll)
        else:
            if failing_since:
                log.warning("outbox dispatch works again after %.1fs",
                            time.monotonic() - failing_since)
                failing_since = 0.0
        finally:
            close_old_connections()


def wake() -> None:
    _wakeup.set()


def retry_failed(ids: list[int] | None = None) -> int:
    """Rows Karl refused (all, or those of ``ids``) sent again now; returns how many."""
    count = outboxfailures.retry(ids)
    if count:
        wake()
    return count
