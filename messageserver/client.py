"""The one client of messageserver's HTTP API (smtpd, web, cronjobs import this).

Nobody else builds messageserver URLs. Every call sends the internal token.
Errors come back as MessageServerError (the server answered with a status and
a JSON body) or MessageServerUnavailable (it could not be reached): smtpd maps
the latter to 451 so the sending MTA retries.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from platformcore.env import get_env
from platformcore.internalhttp import (
    ServiceRefused,
    ServiceUnavailable,
    answer,
    auth_headers,
    shared_client,
    unreachable,
)

# The shared hierarchy (platformcore.internalhttp), under messageserver's names.
MessageServerUnavailable = ServiceUnavailable  # not reached, 5xx, 429: try again later
MessageServerError = ServiceRefused  # refused (4xx); ``body`` says why


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; the shared errors for the rest."""
    return answer("messageserver", response)


class MessageServerClient:
    def __init__(self, base_url: str | None = None, token: str | None = None,
                 timeout: float = 60.0):
        env = get_env()
        self.base_url = (base_url or env.service_url("messageserver")).rstrip("/")
        self._headers = auth_headers(token or env.internal_api_token)
        self._timeout = timeout

    # -- plumbing ---------------------------------------------------------
    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        try:
            response = shared_client().request(method, self.base_url + path, json=json,
                                               headers=self._headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise unreachable("messageserver", self.base_url, exc) from exc
        return _answer(response)

    # -- the API ----------------------------------------------------------
    def check_recipient(self, address: str) -> dict[str, Any]:
        """At RCPT time: ``{"ok": bool, "code": int, "reason": str}``."""
        return self._call("POST", "/v1/recipients/check", {"address": address})

    def inbound(self, mail_from: str, rcpt_tos: list[str], data: bytes,
                peer: str = "", via: str = "smtp", helo: str = "") -> dict[str, Any]:
        """Hand over one received message; returns only once it is durably accepted.

        Response: ``{"code": 250|550|..., "reason": str, "results": [{"rcpt", "outcome",
        "code", "reason"}]}`` where outcome is accepted, held, rejected or dropped.
        """
        return self._call("POST", "/v1/inbound", {
            "mail_from": mail_from,
            "rcpt_tos": rcpt_tos,
            "data_b64": base64.b64encode(data).decode("ascii"),
            "peer": peer,
            "helo": helo,
            "via": via,
        })

    def post(self, group: str, sender_email: str, subject: str, text: str,
             html: str = "", reply_to_number: int | None = None,
             attachments: list[dict[str, Any]] | None = None,
             text_format: str = "plain") -> dict[str, Any]:
        """A post from the website, through exactly the checks of an emailed post.

        ``attachments``: ``[{"filename", "content_type", "data_b64"}]``.
        ``text_format``: "plain", or "markdown" (``text`` is then Markdown source that
        messageserver renders; images it shows by file name go inline).
        Response: ``{"outcome": "accepted"|"held"|"rejected", "reason", "number"}``;
        a rejection is a 4xx MessageServerError whose body names the reason.
        """
        return self._call("POST", "/v1/posts", {
            "group": group, "sender_email": sender_email, "subject": subject,
            "text": text, "html": html, "reply_to_number": reply_to_number,
            "attachments": attachments or [], "format": text_format,
        })

    def edit(self, group: str, number: int, editor_email: str, subject: str, text: str,
             text_format: str = "plain") -> dict[str, Any]:
        """A member's edit of their own post ``number``.

        Response: ``{"outcome": "edited", "number", "edited_at", "correction_recipients"}``;
        a refusal (not the author, too late) is a 403 MessageServerError whose body
        has the reason, a bad field a 422 naming it, no such message a 404.
        """
        return self._call("POST", "/v1/edits", {
            "group": group, "number": number, "editor_email": editor_email,
            "subject": subject, "text": text, "format": text_format})

    def moderate(self, held_id: int, action: str, moderator_email: str,
                 reason: str = "", subject: str | None = None,
                 body: str | None = None) -> dict[str, Any]:
        """Decide a held message: approve, approve_unmoderate, reject or discard.

        ``subject`` and ``body`` (both or neither) approve the moderator's edited
        version; a bad one is a 422 MessageServerError whose body names the field.
        """
        payload: dict[str, Any] = {"action": action, "moderator": moderator_email,
                                   "reason": reason}
        if subject is not None or body is not None:
            payload.update(subject=subject or "", body=body or "")
        return self._call("POST", f"/v1/moderation/{held_id}", payload)

    def delivery_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("POST", "/v1/delivery-events", {"events": events})

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")


class AsyncMessageServerClient:
    """The same calls for asyncio callers (smtpd), over one pooled connection set."""

    def __init__(self, base_url: str | None = None, token: str | None = None,
                 timeout: float = 60.0):
        env = get_env()
        self.base_url = (base_url or env.service_url("messageserver")).rstrip("/")
        self._client = httpx.AsyncClient(headers=auth_headers(token or env.internal_api_token),
                                         timeout=timeout)

    async def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        try:
            response = await self._client.request(method, self.base_url + path, json=json)
        except httpx.HTTPError as exc:
            raise unreachable("messageserver", self.base_url, exc) from exc
        return _answer(response)

    async def check_recipient(self, address: str) -> dict[str, Any]:
        return await self._call("POST", "/v1/recipients/check", {"address": address})

    async def inbound(self, mail_from: str, rcpt_tos: list[str], data: bytes,
                      peer: str = "", via: str = "smtp", helo: str = "") -> dict[str, Any]:
        """``peer`` and ``helo`` are the SMTP client's: sender authentication needs them."""
        return await self._call("POST", "/v1/inbound", {
            "mail_from": mail_from, "rcpt_tos": rcpt_tos,
            "data_b64": base64.b64encode(data).decode("ascii"), "peer": peer, "helo": helo,
            "via": via})

    async def aclose(self) -> None:
        await self._client.aclose()
