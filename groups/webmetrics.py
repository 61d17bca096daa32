"""The website's /health and /metrics, and the middleware that times every view.

/health is open (load balancers call it); /metrics needs the internal token,
like every other service's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from platformcore.env import get_env
from platformcore.internalhttp import token_ok

REGISTRY = CollectorRegistry()
LATENCY = Histogram("web_request_seconds", "Web request latency by view", ["view"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                    registry=REGISTRY)
RESPONSES = Counter("web_responses_total", "Web responses by view and status class",
                    ["view", "status"], registry=REGISTRY)


class TimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        LATENCY.labels(view=view).observe(time.perf_counter() - start)
        RESPONSES.labels(view=view, status=f"{response.status_code // 100}xx").inc()
        return response


def health(request: HttpRequest) -> HttpResponse:
    checks = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # this endpoint exists to report exactly this, but it is public:
        ok = False  # the error (host, user, path) goes to the log, not to the page
        logging.getLogger(__name__).exception("/health: the database is unavailable")
        checks["database"] = "unavailable"
    return JsonResponse({"status": "ok" if ok else "failing", "checks": checks},
                        status=200 if ok else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    if not token_ok(request.headers.get("Authorization"), get_env().internal_api_token):
        return JsonResponse({"error": "missing or wrong internal API token"}, status=401)
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
