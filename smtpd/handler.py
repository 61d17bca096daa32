"""The aiosmtpd handler: a thin edge that maps messageserver's answers to SMTP replies.

It keeps no state. RCPT is checked against messageserver (foreign domains and
malformed addresses are refused there; whether a group exists is said only at
DATA, so a hidden group looks missing), DATA is handed over whole with the
client's IP and HELO (sender authentication needs them), and 250 is said only once
messageserver has durably accepted the message. When messageserver can't be
reached the reply is 451: the sending MTA keeps the message and retries.
"""

from __future__ import annotations

import logging
from smtpd import metrics
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from messageserver.client import (
    AsyncMessageServerClient,
    MessageServerError,
    MessageServerUnavailable,
)
from messageserver.envelope import reverse_path
from platformcore.env import get_env

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 50


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower().rstrip(".>") if "@" in address else ""


class GroupsHandler:
    def __init__(self, client: AsyncMessageServerClient | None = None,
                 max_recipients: int = MAX_RECIPIENTS):
        self.client = client or AsyncMessageServerClient()
        self.domain = get_env().groups_domain
        self.max_recipients = max_recipients

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        """aiosmtpd's EHLO lines, plus XFORWARD for a trusted MTA (smtpd/xforward.py)."""
        session.host_name = hostname  # aiosmtpd leaves this to the hook when there is one
        if getattr(server, "xforward_trusted", False):
            responses.insert(len(responses) - 1, "250-XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE")
        return responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.max_recipients:
            metrics.REJECTED.labels(reason="too_many_recipients").inc()
            return "452 4.5.3 Too many recipients"
        if _domain(address) != self.domain:
            metrics.REJECTED.labels(reason="relay").inc()
            return f"550 5.7.1 Relaying denied: we accept mail only for {self.domain}"
        try:
            answer = await self.client.check_recipient(address)
        except (MessageServerUnavailable, MessageServerError) as exc:
            log.warning("RCPT check failed for %s: %s", address, exc)
            return "451 4.3.0 Temporary failure checking the recipient, try again later"
        if not answer.get("ok"):
            status = answer.get("status") or "5.1.1"
            metrics.REJECTED.labels(reason="unknown_recipient" if status == "5.1.1"
                                    else "relay").inc()
            return f"550 {status} {answer.get('reason') or 'No such recipient'}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data: Any = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        helo = session.host_name or ""
        forwarded = getattr(session, "xforward", None)  # set only by a trusted MTA
        if forwarded:
            peer, helo = forwarded.get("ADDR") or peer, forwarded.get("HELO") or helo
        try:
            answer = await self.client.inbound(reverse_path(envelope.mail_from), envelope.rcpt_tos,
                                               data, peer=peer, helo=helo)
        except MessageServerUnavailable as exc:
            log.warning("hand-off to messageserver failed: %s", exc)
            metrics.REJECTED.labels(reason="backend_unavailable").inc()
            return "451 4.3.0 Temporary failure, please try again later"
        except MessageServerError as exc:
            log.error("messageserver refused the hand-off: %s", exc)
            return f"554 5.6.0 Message refused: {exc.body.get('error', exc)}"
        code = int(answer.get("code", 451))
        status = answer.get("status") or ("2.0.0" if code < 300 else "5.7.1")
        reason = " ".join(str(answer.get("reason") or "").split())[:400]
        if code < 300:
            metrics.ACCEPTED.inc()
            return f"250 {status} {reason or 'Message accepted'}"
        metrics.REJECTED.labels(reason="policy").inc()
        return f"{code} {status} {reason or 'Message refused'}"
