"""Bulk jobs: one copy for every recipient, signed once, many RCPT per SMTP transaction.

A very large announcement group gains nothing from a personal copy per
member but pays for one (a footer rendered, a body hashed, an RSA signature
made and the whole message sent, per member). A job of kind "bulk" (Mailman's
non-personalised delivery) has one copy for all: it is composed and signed
once per job in each delivery process, and sent to up to ``MAX_RCPT``
recipients of one destination domain per transaction (RFC 5321 asks servers
to take at least 100 RCPT per transaction, section 4.5.3.1.8).

How a bulk job is spooled: one record per transaction (karl.bulkrecords: a
domain's <= 100 recipients, its outcome written once, refusals apart), sent
by the scheduler's bulk branch in the server process (karl.scheduler,
``_run_unit``) over karl.bulksend. This module keeps what both layouts share
(the one signed copy) and the per-recipient path of bulk jobs spooled before
transaction records existed (a record per recipient, no ``units`` in the
spec): the scheduler hands out one domain's recipients per batch
(``chunks``), so such a batch is one transaction too, and each recipient's
outcome is written (synced) as soon as it ends. Either way, Karl killed
mid-job resumes with the recipients not yet taken, never sending again to
the ones a server already accepted (the window is the instant between the
server's reply and the synced write, as for every copy).

This module must never carry anything personal: a bulk recipient is an
address and nothing else (``contract.bulk_recipients`` refuses the rest).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from karl import bulksend
from karl.bulkrecords import MAX_RCPT, domain_of
from karl.compose import Composer, Copy
from karl.footer import FooterError
from karl.transports import Result, Transport

T = TypeVar("T")
OutcomeT = TypeVar("OutcomeT")


class Batch(Protocol):
    """What this module reads of karl.delivery.Batch (which imports this module)."""

    job_id: str
    relay: str
    spec: dict[str, Any]
    recipients: list[tuple[int, dict[str, Any]]]


class Deliverer(Protocol):
    """What this module uses of karl.delivery.Deliverer: its composers and transports."""

    def composer(self, batch: Any) -> Composer: ...

    def transport(self, relay: str) -> Transport: ...

# job id -> its signed copy, per delivery process (a process signs a job once)
_COPIES: OrderedDict[str, Copy] = OrderedDict()
_KEEP = 16


def is_bulk(spec: dict[str, Any]) -> bool:
    return spec.get("kind") == "bulk"


def chunks(items: Sequence[T], limit: int, address: Callable[[T], str]) -> list[list[T]]:
    """``items`` grouped by the domain of their address, in lists of at most ``limit``."""
    limit = max(1, min(limit, MAX_RCPT))
    by_domain: dict[str, list[T]] = defaultdict(list)
    for item in items:
        by_domain[domain_of(address(item))].append(item)
    return [group[i:i + limit] for group in by_domain.values()
            for i in range(0, len(group), limit)]


def signed_copy(deliverer: Deliverer, batch: Batch) -> Copy:
    """The job's one copy: composed (footer with the job's vars) and signed once here."""
    copy = _COPIES.get(batch.job_id)
    if copy is None:
        composer = deliverer.composer(batch)
        copy = _COPIES[batch.job_id] = composer.compose(batch.spec.get("vars") or {}, ())
        while len(_COPIES) > _KEEP:
            _COPIES.popitem(last=False)
    else:
        _COPIES.move_to_end(batch.job_id)
    return copy


async def send(transport: Transport, mail_from: str, rcpts: Sequence[tuple[int, str]],
               data: bytes) -> list[Result]:
    """One transaction (karl.bulksend) to recipients of one domain, a Result per recipient."""
    result = await bulksend.send(transport, mail_from, [a for _, a in rcpts], data)
    if result.reply is None:
        return [Result(key, None, result.error) for key, _ in rcpts]
    return [Result(key, result.refused.get(n, result.reply))
            for n, (key, _) in enumerate(rcpts)]


# ---------------------------------------------------------------- a batch

def _outcome(outcome: Callable[..., OutcomeT], batch: Batch, result: Result, elapsed: float) -> OutcomeT:
    reply = result.reply
    if reply is None:
        return outcome(batch.job_id, result.key, "deferred", None, f"4.4.1 {result.error}",
                       batch.relay, True, elapsed)
    state = "sent" if 200 <= reply.code < 300 else "bounced" if reply.code >= 500 \
        else "deferred"
    return outcome(batch.job_id, result.key, state, reply.code, reply.text, batch.relay,
                   state == "deferred" and result.relay_failed, elapsed)


async def deliver(deliverer: Deliverer, batch: Batch, outcome: Callable[..., OutcomeT]) -> list[OutcomeT]:
    """Send the job's one copy to the batch's recipients, a transaction per domain and 100.

    ``outcome`` is karl.delivery.Outcome, passed in so this module does not import
    the one that calls it.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        copy = signed_copy(deliverer, batch)
    except FooterError as exc:
        return [outcome(batch.job_id, index, "bounced", None,
                        f"5.6.0 footer could not be rendered: {exc}", batch.relay)
                for index, _ in batch.recipients]
    transport = deliverer.transport(batch.relay)
    mail_from = batch.spec.get("mail_from", "")
    rcpts = [(index, rec["address"]) for index, rec in batch.recipients]
    parts = await asyncio.gather(*(send(transport, mail_from, chunk, copy)
                                   for chunk in chunks(rcpts, MAX_RCPT, lambda r: r[1])))
    elapsed = loop.time() - started
    return [_outcome(outcome, batch, result, elapsed) for part in parts for result in part]
