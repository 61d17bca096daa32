"""The one way other processes talk to Karl (docs/design.md: nobody builds Karl's URLs by hand).

Synchronous (httpx) because its callers are Django code and management
commands. ``KarlError`` (Karl refused, 4xx) carries the HTTP status and the JSON
body (a 422 names each bad field); ``KarlUnavailable`` means Karl could not be
reached or failed (5xx, 429), so the caller should keep the work and retry.
"""

from __future__ import annotations

from typing import Any

import httpx

from karl.idempotency import HEADER
from platformcore.internalhttp import (
    ServiceInvalid,
    ServiceRefused,
    ServiceUnavailable,
    answer,
    auth_headers,
    shared_client,
    unreachable,
)

# The shared hierarchy (platformcore.internalhttp), under Karl's names: KarlUnavailable
# (not reached, 5xx, 429: keep the work, retry), KarlError (Karl refused it, 4xx; a 422
# is a KarlInvalid whose body names each bad field).
KarlUnavailable = ServiceUnavailable
KarlError = ServiceRefused
KarlInvalid = ServiceInvalid


def _key_header(key: str | None) -> dict[str, str]:
    return {HEADER: key} if key else {}


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

    def _call(self, method: str, path: str, extra_headers: dict[str, str] | None = None,
              **kwargs: Any) -> Any:
        try:
            response = shared_client().request(method, self.base_url + path,
                                               timeout=self.timeout,
                                               headers={**auth_headers(self.token),
                                                        **(extra_headers or {})}, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable("Karl", self.base_url, exc) from exc
        return answer("Karl", response)

    def submit_job(self, job: dict[str, Any], idempotency_key: str | None = None) -> str:
        """Spool a job (see karl.contract.JobIn); returns its id once Karl has synced it.

        With ``idempotency_key``, submitting again returns the job Karl already
        has for that key and sends nothing twice (karl.idempotency).
        """
        return self._call("POST", "/v1/jobs", json=job,
                          extra_headers=_key_header(idempotency_key))["id"]

    def send_mail(self, idempotency_key: str | None = None, **fields: Any) -> str:
        """One transactional message (karl.contract.MailIn; pass from_= or **{"from": ...})."""
        if "from_" in fields:
            fields["from"] = fields.pop("from_")
        return self._call("POST", "/v1/mail", json=fields,
                          extra_headers=_key_header(idempotency_key))["id"]

    def job_status(self, job_id: str, summary: bool = False) -> dict[str, Any]:
        """A job's recipients and counts; with ``summary`` the counts alone (no list)."""
        return self._call("GET", f"/v1/jobs/{job_id}", params={"summary": "1"} if summary
                          else None)

    def dead_letters(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/dead-letters",
                          params={"limit": limit, "offset": offset})["dead_letters"]

    def health(self) -> dict[str, Any]:
        """Karl's health; with the token (always sent) it names the relays and their errors."""
        try:
            response = shared_client().get(self.base_url + "/health", timeout=self.timeout,
                                           headers=auth_headers(self.token))
        except httpx.HTTPError as exc:
            raise unreachable("Karl", self.base_url, exc) from exc
        return response.json()
