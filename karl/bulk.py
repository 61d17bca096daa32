"""Bulk jobs: one copy for every recipient, signed once, many RCPT per SMTP transaction.

A very large announcement group gains nothing from a personal copy per
member but pays for one (a footer rendered, a body hashed, an RSA signature
made and the whole message sent, per member). A job of kind "bulk" (Mailman's
non-personalised delivery) has one copy for all: it is composed and signed
once per job in each delivery process, and sent to up to ``MAX_RCPT``
recipients of one destination domain per transaction (RFC 5321 asks servers
to take at least 100 RCPT per transaction, section 4.5.3.1.8).

What stays as for every job: each recipient is its own spool record, so its
outcome is tracked, reported and retried on its own. A RCPT refused with 5xx
bounces that recipient only, a 4xx defers that recipient only, and the final
reply to the data applies to the recipients the server took. The scheduler
hands out one domain's recipients per batch (``chunks``), so a batch is one
transaction and its outcomes are written (synced) as soon as it ends: Karl
killed mid-job resumes with the recipients not yet taken, never sending
again to the ones a server already accepted (the window is the instant
between the server's reply and the synced write, as for every copy).

This module must never carry anything personal: a bulk recipient is an
address and nothing else (``check_bulk`` refuses the rest).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from karl.compose import Composer, Copy
from karl.footer import FooterError
from karl.smtpclient import Reply, SMTPConnection, SMTPConnectionError, dot_stuff
from karl.transports import MXTransport, Result, SMTPRelay, Transport, _HostPool

MAX_RCPT = 100  # recipients per SMTP transaction (RFC 5321 4.5.3.1.8: servers take 100)
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


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def check_bulk(data: dict[str, Any], recipients: list[dict[str, Any]],
               errors: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A bulk job's recipients (one per address, grouped by domain) and footer variables.

    Called by ``contract.validate_job`` with the recipients it checked; adds to
    ``errors`` what only a bulk job forbids.
    """
    job_vars = data.get("vars", {})
    if not isinstance(job_vars, dict):
        errors["vars"] = "must be an object (the footer's variables, the same for everyone)"
        job_vars = {}
    for i, rcpt in enumerate(recipients):
        personal = sorted(set(rcpt) - {"address"})
        if personal:
            errors[f"recipients[{i}]"] = (
                f"a bulk job's recipients are addresses only ({', '.join(personal)} given): "
                "everybody gets the one copy")
    if errors:
        return recipients, job_vars
    unique: dict[str, str] = {}
    for rcpt in recipients:
        unique.setdefault(rcpt["address"].lower(), rcpt["address"])
    ordered = sorted(unique.values(), key=lambda a: (domain_of(a), a.lower()))
    return [{"address": a} for a in ordered], job_vars


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


# ---------------------------------------------------------------- one SMTP transaction

async def transact(conn: SMTPConnection, mail_from: str, rcpts: Sequence[str],
                   data: bytes) -> list[Reply]:
    """One transaction to many recipients; the reply that decides each recipient, in order.

    A refused RCPT answers for its recipient; the reply to the data answers for
    the recipients the server took. Raises SMTPConnectionError when the
    connection fails (its ``results`` hold the MAIL reply once one was read, so
    a caller knows a fresh connection may be tried only when it is empty).
    """
    assert conn.writer is not None
    body, utf8 = conn.choose(mail_from, "".join(rcpts), data)
    stuffed = dot_stuff(body)
    params = ""
    if "size" in conn.extensions:
        params += f" SIZE={len(stuffed)}"
    if not body.isascii() and "8bitmime" in conn.extensions:
        params += " BODY=8BITMIME"
    if utf8:
        params += " SMTPUTF8"
    mail = f"MAIL FROM:<{mail_from}>{params}".encode()
    lines = [mail] + [f"RCPT TO:<{a}>".encode() for a in rcpts] + [b"DATA"]
    got: list[Reply] = []
    try:
        if "pipelining" in conn.extensions:
            conn.writer.write(b"\r\n".join(lines) + b"\r\n")
            async with asyncio.timeout(conn.timeout):
                for _ in lines:
                    got.append(conn._check_421(await conn._read_reply()))
        else:
            for line in lines:
                if line == b"DATA" and not any(r.code < 300 for r in got[1:]):
                    break  # nobody was taken: no DATA
                got.append(conn._check_421(await conn.command(line)))
                if len(got) == 1 and got[0].code >= 400:
                    break
        mail_reply, rcpt_replies = got[0], got[1:1 + len(rcpts)]
        data_reply = got[1 + len(rcpts)] if len(got) > 1 + len(rcpts) else None
        taken = [r.code < 300 for r in rcpt_replies]
        if mail_reply.code >= 400 or not any(taken) or data_reply is None \
                or data_reply.code != 354:
            if data_reply is not None and data_reply.code == 354:
                conn._check_421(await conn.command(b"."))  # a server that took DATA anyway
            conn._check_421(await conn.command(b"RSET"))
            if mail_reply.code >= 400:
                return [mail_reply] * len(rcpts)
            refusal = data_reply or Reply(554, "5.5.1 no recipient was taken")
            return [r if r.code >= 300 else refusal for r in rcpt_replies] + \
                [refusal] * (len(rcpts) - len(rcpt_replies))
        conn.writer.write(stuffed + b".\r\n")
        final = conn._check_421(await conn._reply())
        return [final if ok else r for r, ok in zip(rcpt_replies, taken, strict=True)]
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
        conn.broken = True
        error = SMTPConnectionError(f"{type(exc).__name__}: {exc}", None)
        error.results = got[:1]
        raise error from None
    except SMTPConnectionError as exc:
        conn.broken = True
        exc.results = got[:1]
        raise


async def _on_pool(pool: _HostPool, mail_from: str, rcpts: Sequence[tuple[int, str]],
                   data: bytes) -> list[Result]:
    """One transaction over a connection of ``pool`` (a stale idle one is replaced once)."""
    addresses = [a for _, a in rcpts]
    async with pool.slots:
        conn = pool.idle.pop() if pool.idle else None
        fresh = conn is None
        try:
            if conn is None:
                conn = pool.factory()
                await conn.connect()
            try:
                replies = await transact(conn, mail_from, addresses, data)
            except SMTPConnectionError as exc:
                if fresh or exc.results:  # the server had answered: nothing is retried here
                    raise
                conn.close()  # an idle connection the server had timed out
                conn = pool.factory()
                await conn.connect()
                replies = await transact(conn, mail_from, addresses, data)
        except SMTPConnectionError as exc:
            if conn is not None:
                conn.close()
            return [Result(key, None, str(exc)) for key, _ in rcpts]
        pool.idle.append(conn)
        return [Result(key, reply) for (key, _), reply in zip(rcpts, replies, strict=True)]


async def _via_mx(transport: MXTransport, domain: str, mail_from: str,
                  rcpts: Sequence[tuple[int, str]], data: bytes) -> list[Result]:
    """The domain's MX hosts in order, as MXTransport does for single copies."""
    route = await transport.route(domain)
    if not route.targets:
        return [Result(key, Reply(route.code, route.reason)) for key, _ in rcpts]
    now = time.monotonic()
    down = transport._down
    tried: list[str] = []
    for host, address in sorted(route.targets, key=lambda t: down.get(t[1], 0.0) > now):
        results = await _on_pool(transport._pool(address), mail_from, rcpts, data)
        if not all(r.relay_failed for r in results):
            down.pop(address, None)
            return results
        down[address] = time.monotonic() + transport.DOWN_SECONDS
        tried.append(f"{host} [{address}]: {results[0].error or results[0].reply}")
    reason = f"4.4.1 no MX host of {domain} took the message: {'; '.join(tried)}"
    return [Result(key, Reply(451, reason)) for key, _ in rcpts]


async def send(transport: Transport, mail_from: str, rcpts: Sequence[tuple[int, str]],
               data: bytes) -> list[Result]:
    """Deliver one copy to recipients of one domain: one transaction where SMTP is spoken."""
    if isinstance(transport, SMTPRelay):
        return await _on_pool(transport.pool, mail_from, rcpts, data)
    if isinstance(transport, MXTransport):
        return await _via_mx(transport, domain_of(rcpts[0][1]), mail_from, rcpts, data)
    # a Maildir (development): a file per recipient, the same bytes in each
    return await transport.send([(key, mail_from, a, data) for key, a in rcpts])


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
