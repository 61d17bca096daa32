"""A bulk job's spool records: one record per SMTP transaction, not one per recipient.

Why: a bulk copy costs nothing per recipient but a RCPT line, so the spool's
bookkeeping was all that was left per member (a record read, rewritten and
synced, a queue entry, an outcome object, an event), ten times the cost of
the SMTP itself. Here a *transaction record* ("unit") holds up to
``MAX_RCPT`` addresses of one destination domain and is queued, claimed,
sent and written (synced) as one: the transaction's outcome is written once,
and only the recipients whose outcome differs from it are written apart
(``x``: position -> their own final state), so a refusal still affects only
its recipient.

A unit record (JSON, under the spool's usual ``R JOB/IDX`` key, IDX the unit's
number; the job's spec says ``"units": 1``)::

    {"rcpts": [address, ...], "first": global index of rcpts[0],
     "state": queued|deferred|sent|bounced|expired,   # everyone not in x
     "attempts": n, "code": c, "reply": r, "relay": ..., "next_attempt"/"done_at": ms,
     "x": {"POS": {"state", "code", "reply", "attempts"}}}   # finished apart

The recipients not in ``x`` are the unit's *pending* ones while its state is
queued or deferred: a retry sends to them only (a smaller transaction). A
recipient's global index (``first`` + position) names it in event ids and
dead letters, as a personal job's index does.

Pure functions: the spool stores these records, the scheduler applies a
transaction's result with ``apply`` (karl/scheduler.py, bulk branch).
Old-format bulk jobs (one record per recipient, no ``"units"`` in the spec)
are still delivered by karl.bulk's per-recipient path.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from karl.smtpclient import Reply

MAX_RCPT = 100  # RFC 5321 4.5.3.1.8: a server takes at least 100 RCPT per transaction
FINAL = ("sent", "bounced", "expired")
_DOMAIN = re.compile(r"@([^@\n]*)$", re.MULTILINE)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def build_units(addresses: list[str], limit: int = MAX_RCPT,
                domains: list[str] | None = None) -> list[dict[str, Any]]:
    """``addresses`` (grouped by domain, as contract.bulk_recipients leaves them) as unit
    records; ``domains``: each address's domain, lower-cased, when the caller has them.

    A unit never mixes domains; a domain with more than ``limit`` recipients
    gets several units.
    """
    units: list[dict[str, Any]] = []
    first = 0
    if domains is None:  # each address's domain, lower-cased, in C (a local part holds no @)
        domains = _DOMAIN.findall("\n".join(addresses).lower())
    for _, group in groupby(domains):
        size = len(list(group))
        for start in range(first, first + size, limit):
            end = min(start + limit, first + size)
            units.append({"rcpts": addresses[start:end], "first": start, "state": "queued",
                          "attempts": 0})
        first += size
    return units


def is_unit(record: dict[str, Any]) -> bool:
    return "rcpts" in record


def pending(record: dict[str, Any]) -> list[int]:
    """Positions of the recipients still to be sent (everyone not finished apart)."""
    done = record.get("x")
    if not done:
        return list(range(len(record["rcpts"])))
    return [p for p in range(len(record["rcpts"])) if str(p) not in done]


def expand(record: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each recipient of a unit as (global index, the record a personal job would have)."""
    done = record.get("x") or {}
    base = {k: record[k] for k in ("state", "attempts", "code", "reply", "relay",
                                   "next_attempt", "done_at") if k in record}
    for pos, address in enumerate(record["rcpts"]):
        own = done.get(str(pos))
        yield record["first"] + pos, {"address": address, **base, **(own or {})}


def counts(record: dict[str, Any]) -> tuple[Counter[str], int]:
    """(recipients per state, recipients that waited at least once), without expanding."""
    done = record.get("x") or {}
    tally: Counter[str] = Counter()
    tally[record.get("state", "queued")] += len(record["rcpts"]) - len(done)
    waited = (len(record["rcpts"]) - len(done)) if record.get("attempts", 0) > 1 else 0
    for own in done.values():
        tally[own["state"]] += 1
        waited += own.get("attempts", 0) > 1
    return tally, waited


@dataclass
class TxnResult:
    """What one transaction said: ``reply`` decides everyone but ``refused`` (by position
    in the list sent); ``reply`` None: the connection failed before an answer (``error``)."""

    reply: Reply | None
    refused: dict[int, Reply] = field(default_factory=dict)
    error: str = ""

    @property
    def relay_failed(self) -> bool:
        return self.reply is None or self.reply.code == 421


def state_of(reply: Reply | None) -> str:
    if reply is None:
        return "deferred"
    return "sent" if 200 <= reply.code < 300 else "bounced" if reply.code >= 500 \
        else "deferred"


@dataclass
class Applied:
    """A unit after one transaction: its new record and what the spool and reports need."""

    record: dict[str, Any]
    deferred: bool  # some recipients go again (the record is queued at its next_attempt)
    tally: Counter[str]  # recipients of this attempt by state
    sent: list[int]  # the positions this attempt was for
    base: tuple[str, int | None, str]  # (state, code, reply) of everyone not in ``own``
    own: dict[int, tuple[str, int | None, str]]  # position -> a refused recipient's own

    def finished(self, states: set[str] | frozenset[str]) -> Iterator[
            tuple[int, str, str, int | None, str]]:
        """(global index, address, state, code, reply) of each recipient this attempt
        finished in one of ``states``; the accepted ones are not walked unless asked for."""
        rcpts, first = self.record["rcpts"], self.record["first"]
        positions = self.sent if self.base[0] in states else self.own
        for pos in positions:
            state, code, text = self.own.get(pos, self.base)
            if state in states and state != "deferred":
                yield first + pos, rcpts[pos], state, code, text


def apply(record: dict[str, Any], sent: list[int], result: TxnResult, now: int,
          expired: bool) -> Applied:
    """The unit ``record`` after the transaction to its positions ``sent``.

    ``expired``: the job's lifetime is over, so a deferral is final. A
    recipient whose outcome differs from the transaction's is written apart
    in ``x``; when some recipients are deferred, the unit stays deferred for
    them and the finished ones go into ``x``.
    """
    attempts = record.get("attempts", 0) + 1
    reply = result.reply
    base_state = state_of(reply)
    if expired and base_state == "deferred":
        base_state = "expired"
    base = (base_state, reply.code if reply is not None else None,
            (reply.text if reply is not None else f"4.4.1 {result.error}")[:1000])
    own: dict[int, tuple[str, int | None, str]] = {}
    for n, refusal in result.refused.items():
        state = state_of(refusal)
        if expired and state == "deferred":
            state = "expired"
        own[sent[n]] = (state, refusal.code, refusal.text[:1000])
    tally: Counter[str] = Counter()
    tally[base_state] += len(sent) - len(own)
    for state, _, _ in own.values():
        tally[state] += 1
    # the unit's own state: deferred while anyone is, else the most common outcome
    unit_state = "deferred" if tally.get("deferred") else tally.most_common(1)[0][0]
    new = {k: v for k, v in record.items() if k not in ("next_attempt", "done_at")}
    new["attempts"] = attempts
    new["code"], new["reply"] = base[1:] if unit_state == base_state else next(
        (c, t) for s, c, t in own.values() if s == unit_state)
    done = dict(record.get("x") or {})
    # those whose outcome is not the unit's are written apart; when the unit's state is
    # the transaction's, only the refused can be
    for pos in own if unit_state == base_state else sent:
        state, code, text = own.get(pos, base)
        if state != unit_state:
            done[str(pos)] = {"state": state, "code": code, "reply": text, "attempts": attempts}
    if done:
        new["x"] = done
    new["state"] = unit_state
    if unit_state != "deferred":
        new["done_at"] = now
    return Applied(new, unit_state == "deferred", tally, sent, base, own)
