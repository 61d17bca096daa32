"""The entry point of every received message: classify by address, then dispose.

``handle_inbound`` is what POST /v1/inbound (smtpd and the inbound webhook)
calls. Each destination kind of messageserver.addresses has one handler
module; adding a kind means adding a row to HANDLERS, nothing else.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from groups.models import Group
from messageserver import addresses, mailparse, metrics, outcomes
from messageserver.addresses import Destination
from messageserver.inbound import InboundMail
from messageserver.outcomes import ForeignDomain, Outcome, UnknownRecipient

log = logging.getLogger(__name__)

Handler = Callable[[InboundMail, Destination, "Group | None"], Outcome]

# kind -> "module:function"; modules are imported on first use.
HANDLERS: dict[str, str] = {
    "post": "messageserver.pipeline:handle_post",
    "command": "messageserver.commands:handle_command",
    "confirm": "messageserver.commands:handle_confirm",
    "moderation": "messageserver.modreply:handle_moderation_reply",
    "bounce": "messageserver.bouncehandling:handle_bounce",
}


def _handler(kind: str) -> Handler:
    module_name, _, func = HANDLERS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UnknownRecipient(f"{kind} addresses are not served here") from None
    return getattr(module, func)


def handle_post(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    from messageserver import posts

    assert group is not None
    return posts.submit_post(group, inbound)


def check_recipient(address: str) -> Outcome:
    """The RCPT-time check: accepted, or rejected with 5.1.1 / 5.7.1."""
    try:
        dest, _group = addresses.resolve(address)
        _handler(dest.kind)
    except ForeignDomain as exc:
        return outcomes.rejected(f"relaying denied: {exc}", status="5.7.1")
    except UnknownRecipient as exc:
        return outcomes.rejected(f"no such recipient here: {exc}", status="5.1.1")
    return outcomes.accepted()


def handle_inbound(mail_from: str, rcpt_tos: list[str], raw: bytes, *, via: str = "smtp",
                   peer: str = "", now: datetime | None = None) -> list[tuple[str, Outcome]]:
    """Dispose of one message for each recipient; returns once it is durably handled."""
    # One parse: the archive and Karl both take parsed.raw, the canonical bytes.
    parsed = mailparse.parse(raw, msgid_domain=settings.GROUPS_DOMAIN)
    inbound = InboundMail(mail_from=mail_from or "", raw=parsed.raw, parsed=parsed,
                          now=now or timezone.now(), via=via, peer=peer)
    results = []
    for rcpt in rcpt_tos:
        try:
            dest, group = addresses.resolve(rcpt)
            outcome = _handler(dest.kind)(inbound, dest, group)
        except ForeignDomain as exc:
            outcome = outcomes.rejected(f"relaying denied: {exc}", status="5.7.1")
        except UnknownRecipient as exc:
            outcome = outcomes.rejected(f"no such recipient here: {exc}", status="5.1.1")
        metrics.INBOUND.labels(outcome=outcome.kind).inc()
        log.info("inbound from=%s rcpt=%s via=%s: %s %s", mail_from, rcpt, via, outcome.kind,
                 outcome.reason)
        results.append((rcpt, outcome))
    return results
