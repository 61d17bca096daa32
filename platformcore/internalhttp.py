"""What every internal service and its client share: bearer-token auth, JSON errors,
and one error hierarchy on the client side.

Karl and errord are plain aiohttp applications (no Django). Both install
``token_middleware`` so the rule "every call but /health needs the internal
token" lives here only. Errors are JSON objects, never HTML pages, so clients
can always show the caller what was wrong.

Every client (errord.client, karl.client, messageserver.client) reads an
answer with ``answer`` and turns a failed connection into ``unreachable``, so
the three say the same thing the same way:

- ``ServiceUnavailable``: not reached, a 5xx, or 429. Keep the work, try later.
- ``ServiceRefused``: a 4xx. Sending the same again gets the same answer.
- ``ServiceInvalid`` (a ``ServiceRefused``): 400 or 422, the request itself is
  malformed; its body names the fields.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

OPEN_PATHS = frozenset({"/health"})


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"error": message, **extra}
    return web.json_response(body, status=status)


def token_ok(header: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization: Bearer TOKEN`` header."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def token_middleware(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path not in OPEN_PATHS and not token_ok(
            request.headers.get("Authorization"), token
        ):
            return json_error(401, "missing or wrong internal API token")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.content_type == "application/json":
                raise
            return json_error(exc.status, exc.reason)

    return middleware


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """A request's body, raising a 400 JSON error when it is over ``max_bytes``."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body over the limit of {max_bytes} bytes"}),
            content_type="application/json",
        )
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:  # read() returns what has arrived so far: read to the end
        chunk = await request.content.read(min(65536, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    body = b"".join(chunks)
    if len(body) > max_bytes:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body over the limit of {max_bytes} bytes"}),
            content_type="application/json",
        )
    return body


def parse_json(body: bytes) -> Any:
    """``body`` parsed as JSON, or the 400 JSON error saying why it can't be (callable in a
    thread: a large body need not hold up the event loop)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"malformed JSON: {exc}"}),
            content_type="application/json",
        ) from None


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """Parse a request body as JSON, raising a 400 JSON error when it can't be."""
    return parse_json(await read_body(request, max_bytes))


def auth_headers(token: str) -> dict[str, str]:
    """Headers a client sends to an internal service."""
    return {"Authorization": f"Bearer {token}"}


_shared: tuple[int, Any] | None = None


def shared_client() -> Any:
    """One pooled httpx.Client per process for the synchronous service clients.

    A new httpx.Client builds an SSL context (milliseconds of CPU) even for
    plain-HTTP loopback calls; the outbox dispatcher and the web call Karl and
    messageserver often, so they reuse one. Re-made after a fork.
    """
    import os

    import httpx

    global _shared
    if _shared is None or _shared[0] != os.getpid():
        _shared = (os.getpid(), httpx.Client(limits=httpx.Limits(max_keepalive_connections=20)))
    return _shared[1]


# --- clients ---------------------------------------------------------------------------

class ServiceError(Exception):
    """A call to an internal service failed; ``status`` is 0 when it was not reached."""

    def __init__(self, service: str, status: int, body: Any, message: str = "") -> None:
        if not message:
            said = body.get("error", body) if isinstance(body, dict) else str(body)[:200]
            message = f"{service} answered {status}: {said}"
        super().__init__(message)
        self.service, self.status, self.body = service, status, body


class ServiceUnavailable(ServiceError):
    """Not reached (refused, timed out), failing (5xx) or busy (429): try again later."""


class ServiceRefused(ServiceError):
    """The service said no (4xx): sending the same request again cannot help."""


class ServiceInvalid(ServiceRefused):
    """The request is malformed (400, 422); the JSON body names the bad fields."""


def error_for(service: str, status: int, body: Any) -> ServiceError:
    """The error an answer with ``status`` (400 and over) means."""
    if status >= 500 or status == 429:
        return ServiceUnavailable(service, status, body)
    if status in (400, 422):
        return ServiceInvalid(service, status, body)
    return ServiceRefused(service, status, body)


def answer(service: str, response: Any) -> Any:
    """The decoded body of an httpx response; the error it means when the status is 400+."""
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:500]}
    if response.status_code >= 400:
        raise error_for(service, response.status_code, body)
    return body


def unreachable(service: str, base_url: str, exc: BaseException) -> ServiceUnavailable:
    """The error for a call that got no answer (raise it ``from exc``)."""
    return ServiceUnavailable(service, 0, None, f"{service} at {base_url} is unreachable: "
                                                f"{exc or type(exc).__name__}")

