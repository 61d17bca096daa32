"""Karl's HTTP API (aiohttp): accept jobs, report their state, expose health and metrics.

The handlers stay thin (STYLE.md #1): validation is contract.py, storage is
spool.py, delivery is scheduler.py. Nothing is acknowledged before the spool
has synced it, and a job submitted again with its Idempotency-Key is
answered with the job already spooled (karl.idempotency).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from karl import idempotency, metrics
from karl.config import KarlConfig
from karl.contract import InvalidRequest, Job, validate_job, validate_mail
from karl.events import EventReporter
from karl.mailbuild import build_mail_job
from karl.relays import RelayPool
from karl.scheduler import InProcessRunner, PoolRunner, Scheduler
from karl.spool import KeyReused, Spool, SpoolUnavailable, iso, qkey
from platformcore.internalhttp import (
    json_error,
    parse_json,
    read_body,
    read_json,
    token_middleware,
    token_ok,
)

log = logging.getLogger(__name__)

SPOOL = web.AppKey("spool", Spool)
SCHEDULER = web.AppKey("scheduler", Scheduler)
CONFIG = web.AppKey("config", KarlConfig)
REPORTER = web.AppKey("reporter", EventReporter)
# One thread takes jobs (parses, checks) and writes them (a synced write must not block
# the loop). One, not a pool:
# every thread gets its own malloc arena, which keeps the big write batches it once
# held, so a pool of writer threads makes memory grow with the spool.
WRITER = web.AppKey("writer", concurrent.futures.ThreadPoolExecutor)


async def _accept(request: web.Request, job: Job, kind: str, data: Any) -> web.Response:
    """Spool the job (synced) and answer 202; a known Idempotency-Key answers 200 with its job.

    A submitted job's fingerprint is its validated job's (karl.idempotency); a
    mail's is its body's, as the job built from it has a Date and Message-ID of its own.
    """
    spool = request.app[SPOOL]
    try:
        key = idempotency.parse(request.headers.get(idempotency.HEADER))
    except idempotency.BadKey as exc:
        return json_error(422, f"invalid {idempotency.HEADER} header",
                          fields={idempotency.HEADER: str(exc)})
    try:
        accepted = await asyncio.get_running_loop().run_in_executor(
            request.app[WRITER], spool.add_job_once, job, key, None if key is None else
            idempotency.fingerprint(data, job if kind == "job" else None))
    except SpoolUnavailable as exc:
        log.error("spool unavailable: %s", exc)
        return json_error(503, "spool unavailable, try again later")
    except KeyReused as exc:
        return json_error(409, str(exc), fields={idempotency.HEADER: "used for another request"})
    body = {"id": accepted.job_id, "recipients": accepted.count}
    if accepted.replayed:
        log.info("job %s submitted again with key %s: nothing new sent", accepted.job_id, key)
        metrics.JOBS_REPLAYED.labels(kind=kind).inc()
        return web.json_response(body, status=200,
                                 headers={idempotency.REPLAYED_HEADER: "true"})
    metrics.JOBS.labels(kind=kind).inc()
    metrics.QUEUED.inc(job.count)
    request.app[SCHEDULER].wakeup.set()
    return web.json_response(body, status=202)


def _take_job(body: bytes) -> tuple[Any, Job]:
    data = parse_json(body)
    return data, validate_job(data)


async def post_job(request: web.Request) -> web.Response:
    """Parsed and checked in the writer thread, not on the event loop: a bulk part of
    50,000 addresses is 40-60 ms of work, during which every transaction in flight
    would wait for its replies to be read (the GIL still lets the loop in between)."""
    body = await read_body(request, request.app[CONFIG].max_job_bytes)
    try:
        data, job = await asyncio.get_running_loop().run_in_executor(
            request.app[WRITER], _take_job, body)
    except InvalidRequest as exc:
        return json_error(422, "invalid job", fields=exc.fields)
    return await _accept(request, job, "job", data)


async def post_mail(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    data = await read_json(request, config.max_job_bytes)
    try:
        mail = validate_mail(data)
    except InvalidRequest as exc:
        return json_error(422, "invalid mail", fields=exc.fields)
    job = build_mail_job(mail, domain=config.domain, default_mail_from=f"bounce@{config.domain}")
    return await _accept(request, job, "mail", data)


async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    spool = request.app[SPOOL]
    spec = spool.job_spec(job_id)
    if spec is None:
        return json_error(404, f"no job {job_id}")
    in_flight = request.app[SCHEDULER].in_flight
    summary = request.query.get("summary") in ("1", "true")
    recipients: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for index, rec in spool.recipients(job_id):
        state = rec.get("state", "queued")
        nxt = rec.get("next_attempt")
        if state in ("queued", "deferred") and qkey(nxt or spec["created"], job_id,
                                                    rec.get("unit", index)) in in_flight:
            state = "sending"
        counts[state] = counts.get(state, 0) + 1
        if summary:  # counts only: a page showing a large job's progress needs no list
            continue
        recipients.append({"address": rec["address"], "state": state,
                           "attempts": rec.get("attempts", 0),
                           "next_attempt": iso(nxt) if state == "deferred" else None,
                           "reply": rec.get("reply", ""), "code": rec.get("code")})
    body: dict[str, Any] = {"id": job_id, "created": iso(spec["created"]), "counts": counts,
                            "timeline": {"spooled_ms": spec["created"],
                                         **request.app[SCHEDULER].timelines.get(job_id)}}
    if not summary:
        body["recipients"] = recipients
    return web.json_response(body)


async def dead_letters(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "100"))
        offset = int(request.query.get("offset", "0"))
        if not (1 <= limit <= 1000 and offset >= 0):
            raise ValueError
    except ValueError:
        return json_error(400, "limit must be 1..1000 and offset a whole number >= 0")
    return web.json_response({"dead_letters": request.app[SPOOL].dead_letters(limit, offset)})


async def health(request: web.Request) -> web.Response:
    """Open to anyone (a load balancer's probe): states and counts only.

    The relays themselves (paths, hosts, credentials in a URL) and their last
    errors are shown only to a caller with the internal token.
    """
    spool_ok = request.app[SPOOL].check_writable()
    relays = [h.as_dict() for h in request.app[SCHEDULER].relays.relays.values()]
    ok = spool_ok and any(r["healthy"] for r in relays)
    body: dict[str, Any] = {"status": "ok" if ok else "degraded", "ok": ok,
                            "spool": "ok" if spool_ok else "unwritable",
                            "relays_healthy": sum(1 for r in relays if r["healthy"]),
                            "relays_total": len(relays),
                            "in_flight": len(request.app[SCHEDULER].in_flight)}
    if token_ok(request.headers.get("Authorization"), request.app[CONFIG].token):
        body["relays"] = [{**r, "relay": _without_password(str(r["relay"]))} for r in relays]
    return web.json_response(body, status=200 if spool_ok else 503)


def _without_password(relay: str) -> str:
    """smtp://user:secret@host:25 -> smtp://user:***@host:25 (even for the token holder)."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", relay)


async def metrics_view(request: web.Request) -> web.Response:
    metrics.EVENTS_PENDING.set(request.app[SPOOL].count_events())
    return web.Response(body=generate_latest(metrics.REGISTRY),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(config: KarlConfig) -> web.Application:
    app = web.Application(middlewares=[token_middleware(config.token)],
                          client_max_size=config.max_job_bytes + 1024)
    app[CONFIG] = config
    app.router.add_post("/v1/jobs", post_job)
    app.router.add_get("/v1/jobs/{job_id}", get_job)
    app.router.add_post("/v1/mail", post_mail)
    app.router.add_get("/v1/dead-letters", dead_letters)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_view)
    app.cleanup_ctx.append(_background)
    return app


async def _background(app: web.Application):  # noqa: ANN202
    config = app[CONFIG]
    spool = Spool(config.spool_dir)
    runner = PoolRunner(config) if config.workers > 0 else InProcessRunner(config)
    relays = RelayPool(config.relays, fail_threshold=config.relay_fail_threshold,
                       recover_threshold=config.relay_recover_threshold,
                       probe_interval=config.probe_interval)
    scheduler = Scheduler(config, spool, relays, runner)
    reporter = EventReporter(spool, config.events_url, config.token)
    scheduler.events_waiting = reporter.waiting
    app[SPOOL], app[SCHEDULER], app[REPORTER] = spool, scheduler, reporter
    app[WRITER] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="spool-writer")
    tasks = [asyncio.create_task(scheduler.run()), asyncio.create_task(reporter.run()),
             asyncio.create_task(_purge(spool, config))]
    yield
    reporter.stopping = True
    await scheduler.stop()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await runner.close()
    app[WRITER].shutdown(wait=True)
    spool.close()


async def _purge(spool: Spool, config: KarlConfig) -> None:
    while True:
        await asyncio.sleep(600)
        try:
            spool.purge_finished(int((time.time() - config.keep_done) * 1000))
            spool.purge_keys(int((time.time() - config.idempotency_retention) * 1000))
        except Exception:
            log.exception("spool clean-up failed")
