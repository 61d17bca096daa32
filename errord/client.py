"""The one way other code talks to errord (sync, httpx).

Used by the logging handler (in its background thread) and by
``manage.py errors``. Errors are platformcore.internalhttp's: ``ErrordUnavailable``
(down, 5xx) so a caller can tell "errord is down" from "errord refused this"
(``ErrordRefused``); ``ErrordError`` is either.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from platformcore.internalhttp import (
    ServiceError,
    ServiceRefused,
    ServiceUnavailable,
    answer,
    auth_headers,
    unreachable,
)

# The shared hierarchy (platformcore.internalhttp), under errord's names.
ErrordError = ServiceError  # any failed call: refused, invalid or unavailable
ErrordRefused = ServiceRefused
ErrordUnavailable = ServiceUnavailable


class ErrordClient:
    """Client of errord's HTTP API; settings default to ``platformcore.env.get_env()``."""

    def __init__(self, base_url: str | None = None, token: str | None = None,
                 timeout: float = 5.0):
        if base_url is None or token is None:
            from platformcore.env import get_env

            env = get_env()
            base_url = base_url or env.service_url("errord")
            token = token if token is not None else env.internal_api_token
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=auth_headers(token),
                                  timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ErrordClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable("errord", self.base_url, exc) from exc
        return answer("errord", response)

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        """Send one report (see ``errord.reports`` for its fields)."""
        return self._call("POST", "/v1/errors", json=report)

    def report_many(self, reports: list[dict[str, Any]]) -> dict[str, Any]:
        """Send several reports in one request."""
        return self._call("POST", "/v1/errors", json={"errors": reports})

    def groups(self, since: int | str | None = None, service: str | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
        """Groups seen in the last ``since`` (seconds, or "1h"), newest first."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if service:
            params["service"] = service
        return self._call("GET", "/v1/errors", params=params)["groups"]

    def group(self, fingerprint: str, occurrences: int = 20) -> dict[str, Any]:
        """One group with its last occurrences; ErrordError(404) when unknown."""
        path = f"/v1/errors/{quote(fingerprint, safe='')}"
        return self._call("GET", path, params={"n": occurrences})

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")
