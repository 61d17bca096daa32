"""The one way other processes talk to Karl (docs/design.md: nobody builds Karl's URLs by hand).

Synchronous (httpx) because its callers are Django code and management
commands. ``KarlError`` carries the HTTP status and the JSON body (a 422
names each bad field); ``KarlUnavailable`` means Karl could not be reached,
so the caller should keep the work and retry.
"""

from __future__ import annotations

from typing import Any

import httpx

from platformcore.internalhttp import auth_headers, shared_client


class KarlError(Exception):
    """Karl answered with a 4xx or 5xx."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error") if isinstance(body, dict) else str(body)[:200]
        super().__init__(f"Karl answered {status}: {message}")
        self.status, self.body = status, body


class KarlUnavailable(Exception):
    """Karl could not be reached (connection refused, timeout)."""


class KarlClient:
    def __init__(self, base_url: str | None = None, token: str | None = None,
                 timeout: float = 30.0) -> None:
        if base_url is None or token is None:
            from platformcore.env import get_env

            env = get_env()
            base_url = base_url or env.service_url("karl")
            token = token or env.internal_api_token
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = shared_client().request(method, self.base_url + path,
                                               timeout=self.timeout,
                                               headers=auth_headers(self.token), **kwargs)
        except httpx.TransportError as exc:
            raise KarlUnavailable(f"Karl at {self.base_url} is unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            raise KarlError(response.status_code, body)
        return body

    def submit_job(self, job: dict[str, Any]) -> str:
        """Spool a job (see karl.contract.JobIn); returns its id once Karl has synced it."""
        return self._call("POST", "/v1/jobs", json=job)["id"]

    def send_mail(self, **fields: Any) -> str:
        """One transactional message (karl.contract.MailIn; pass from_= or **{"from": ...})."""
        if "from_" in fields:
            fields["from"] = fields.pop("from_")
        return self._call("POST", "/v1/mail", json=fields)["id"]

    def job_status(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/dead-letters",
                          params={"limit": limit, "offset": offset})["dead_letters"]

    def health(self) -> dict[str, Any]:
        try:
            response = shared_client().get(self.base_url + "/health", timeout=self.timeout)
        except httpx.TransportError as exc:
            raise KarlUnavailable(f"Karl at {self.base_url} is unreachable: {exc}") from exc
        return response.json()
