"""errord's HTTP API (aiohttp): receive error reports, list their groups.

Routes: ``POST /v1/errors`` (one report or ``{"errors": [...]}``, 202),
``GET /v1/errors`` (groups, filtered by ``since`` seconds, ``service``,
``limit``), ``GET /v1/errors/{fingerprint}`` (one group and its last
occurrences), ``GET /health`` (open) and ``GET /metrics`` (Prometheus text).
Every route but /health needs the internal token (platformcore.internalhttp).
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

from errord.durations import parse_duration
from errord.reports import InvalidReport, parse_body
from errord.store import Store
from platformcore.internalhttp import json_error, read_json, token_middleware

log = logging.getLogger("errord.server")

MAX_BODY = 2 * 1024 * 1024
MAX_LIMIT = 1000
STORE: web.AppKey[Store] = web.AppKey("store", Store)


class _GroupsCollector:
    """Reads the number of groups per service from the store at scrape time."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self):
        gauge = GaugeMetricFamily("errord_groups", "Error groups stored, by service",
                                  labels=["service"])
        for service, n in sorted(self.store.counts_by_service().items()):
            gauge.add_metric([service], n)
        yield gauge


class ErrordMetrics:
    """This errord's Prometheus registry (one per app, so tests can run several)."""

    def __init__(self, store: Store):
        self.registry = CollectorRegistry()
        self.received = Counter("errord_errors_received", "Error reports received, by service",
                                ["service"], registry=self.registry)
        self.rejected = Counter("errord_reports_rejected", "Request bodies refused as invalid",
                                registry=self.registry)
        self.registry.register(_GroupsCollector(store))


METRICS: web.AppKey[ErrordMetrics] = web.AppKey("metrics", ErrordMetrics)


def _bad_param(name: str, message: str) -> web.HTTPUnprocessableEntity:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": f"{name} {message}", "field": name}),
        content_type="application/json")


def _int_param(request: web.Request, name: str, default: int | None, lo: int,
               hi: int | None = None) -> int | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise _bad_param(name, "must be a whole number") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise _bad_param(name, f"must be {bound}")
    return value


async def post_errors(request: web.Request) -> web.Response:
    body = await read_json(request, MAX_BODY)
    metrics = request.app[METRICS]
    try:
        reports = parse_body(body)
    except InvalidReport as exc:
        metrics.rejected.inc()
        return json_error(422, str(exc), field=exc.field)
    fingerprints = await asyncio.to_thread(request.app[STORE].add, reports)
    for report in reports:
        metrics.received.labels(report.service).inc()
    return web.json_response({"accepted": len(reports), "fingerprints": fingerprints},
                             status=202)


async def list_groups(request: web.Request) -> web.Response:
    since = None
    if request.query.get("since", "").strip():
        try:
            since = parse_duration(request.query["since"])
        except ValueError as exc:
            raise _bad_param("since", f"is wrong: {exc}") from None
    limit = _int_param(request, "limit", 50, 1, MAX_LIMIT)
    service = request.query.get("service", "").strip() or None
    groups = await asyncio.to_thread(request.app[STORE].groups, since, service, limit)
    return web.json_response({"groups": groups})


async def show_group(request: web.Request) -> web.Response:
    n = _int_param(request, "n", 20, 1, 50)
    group = await asyncio.to_thread(request.app[STORE].group, request.match_info["fp"], n)
    if group is None:
        return json_error(404, "no such error group", fingerprint=request.match_info["fp"])
    return web.json_response(group)


async def health(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(request.app[STORE].ping)
    except Exception as exc:  # the point of /health is to say so, not to crash
        return web.json_response({"status": "error", "database": str(exc)}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics(request: web.Request) -> web.Response:
    text = await asyncio.to_thread(generate_latest, request.app[METRICS].registry)
    return web.Response(body=text, headers={"Content-Type": "text/plain; version=0.0.4"})


def make_app(store: Store, token: str) -> web.Application:
    app = web.Application(middlewares=[token_middleware(token)], client_max_size=MAX_BODY)
    app[STORE] = store
    app[METRICS] = ErrordMetrics(store)
    app.router.add_post("/v1/errors", post_errors)
    app.router.add_get("/v1/errors", list_groups)
    app.router.add_get("/v1/errors/{fp}", show_group)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app
