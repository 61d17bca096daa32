"""The entry point of every received message: classify by address, then dispose.

``handle_inbound`` is what POST /v1/inbound (smtpd and the inbound webhook)
calls. Each destination kind of messageserver.addresses has one handler
module; adding a kind means adding a row to HANDLERS, nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from groups.models import Group
from messageserver import (
    addresses,
    bouncehandling,
    commands,
    mailparse,
    metrics,
    modreply,
    outcomes,
    posts,
)
from messageserver.addresses import Destination
from messageserver.inbound import InboundMail
from messageserver.outcomes import ForeignDomain, Outcome, UnknownRecipient

log = logging.getLogger(__name__)

Handler = Callable[[InboundMail, Destination, "Group | None"], Outcome]



def handle_post(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    assert group is not None
    return posts.submit_post(group, inbound)


# kind -> its handler, imported like any other code (no strings: a reader and the import
# contracts see every step).
HANDLERS: dict[str, Handler] = {
    "post": handle_post,
    "command": commands.handle_command,
    "confirm": commands.handle_confirm,
    "moderation": modreply.handle_moderation_reply,
    "bounce": bouncehandling.handle_bounce,
}


def _handler(kind: str) -> Handler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise UnknownRecipient(f"{kind} addresses are not served here") from None


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
    inbound = InboundMail(mail_from=mail_from or "", raw=raw, parsed=mailparse.parse(raw),
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
