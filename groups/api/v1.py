"""The API's one NinjaAPI: its routers, its key auth and rate limit, and its errors.

Every error is JSON: ``{"detail": "...", "fields": {"name": "problem"}}`` (fields only for
bad input, 422), with 400/401/403/404/409/422/429 as the case is; never an HTML page,
never a 500 for bad input.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.openapi.docs import Swagger

from groups.api import account, archive, auth, groups, members, moderation, tools

log = logging.getLogger(__name__)

api = NinjaAPI(
    title="Groups API", version="1", urls_namespace="api-v1",
    description="The platform's public API. Make a key on your account page (API keys) and "
                "send it as `Authorization: Bearer gp_…`. A call may do exactly what its "
                "user may do on the website, narrowed by the key's scope. Errors are JSON: "
                "`detail`, and for bad input `fields` naming each field.",
    auth=auth.KeyAuth(), throttle=[auth.KeyThrottle()], docs=Swagger(), docs_url="/docs",
)
api.add_router("/groups", groups.router)
api.add_router("/groups", members.router)
api.add_router("/groups", archive.router)
api.add_router("/groups", moderation.router)
api.add_router("/groups", tools.router)
api.add_router("/", archive.search_router)
api.add_router("/", account.router)


def error(status: int, detail: str, fields: dict[str, str] | None = None) -> JsonResponse:
    body: dict = {"detail": detail}
    if fields is not None:
        body["fields"] = fields
    return JsonResponse(body, status=status)


def _field(loc: list | tuple) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form", "file"):
        parts = parts[1:]
    # A schema's own name (the body parameter) isn't a field the caller sent.
    if len(parts) > 1 and parts[0] in ("body", "filters", "params"):
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields: dict[str, str] = {}
    for problem in exc.errors:
        name = _field(problem.get("loc", ()))
        fields[name] = (fields[name] + " " if name in fields else "") + str(
            problem.get("msg", "invalid"))
    return error(422, "Some fields are not valid: " + ", ".join(fields) + ".", fields)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error(401, "A valid API key is needed (Authorization: Bearer gp_…); this one "
                          "is missing, unknown, revoked or expired.")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error(403, str(exc) or "This key may not do that.")


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(404, "Not found (or not visible to this key's user).")


@api.exception_handler(Throttled)
def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return error(429, "Too many requests for this key; wait as Retry-After says.")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error(exc.status_code, str(exc))


@api.exception_handler(Exception)
def crashed(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API %s %s failed", request.method, request.path)
    return error(500, "The server failed; the error is logged. Please try again later.")


def unknown_path(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/v1/: a JSON 404, not the website's page."""
    return error(404, f"No such API endpoint: /api/v1/{rest}. See /api/v1/docs.")
