"""Bulk jobs (karl.bulk): one signed copy, <= 100 RCPT per transaction, per-recipient outcomes.

Karl runs as a real process (``python -m karl``) with its LevelDB spool, and
delivers into a real aiosmtpd server that notes every transaction.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import dkim
import pytest
from aiosmtpd.controller import Controller

from karl import bulk, bulkrecords
from karl.contract import InvalidRequest, validate_job
from karl.smtpclient import Reply
from karl.spool import Spool, now_ms, qkey, rkey
from tests.conftest import free_port
from tests.karl.conftest import SinkHandler, dnsfunc_for, karl_mail
from tests.karl.securesink import start_secure_sink
from tests.karl.test_api import wait_state
from tests.karl.test_transport_mx import mx_config

from tests.karl import test_transport_mx as _mx_zone  # isort: skip

dns = _mx_zone.dns  # the MX tests' DNS zone and port fixtures, shared
mx_port = _mx_zone.mx_port

MAIL_FROM = "demo+bounces@groups.localhost"


def bulk_job(addresses: list[str], **extra) -> dict:
    return {"kind": "bulk",
            "message_b64": base64.b64encode(karl_mail("mixed_attachment.eml")).decode(),
            "mail_from": MAIL_FROM,
            "headers": [["List-Id", "<demo.groups.localhost>"],
                        ["List-Unsubscribe", "<mailto:demo+unsubscribe@groups.localhost>"]],
            "remove_headers": ["DKIM-Signature"],
            "footer": {"text": "To leave {{ group_name }}: {{ unsubscribe_url }}"},
            "vars": {"group_name": "demo",
                     "unsubscribe_url": "mailto:demo+unsubscribe@groups.localhost"},
            "recipients": [{"address": a} for a in addresses],
            "events": ["bounced", "expired", "finished"],
            "meta": {"group": "demo", "number": 9}, **extra}


@dataclass
class Transaction:
    mail_from: str
    rcpts: list[str]
    data: bytes


class TransactionSink(SinkHandler):
    """A SinkHandler that also keeps each accepted transaction whole.

    ``hold_transaction`` (1-based) makes that transaction's DATA wait until
    ``release`` is set, and then refuse it: a server that never said 250.
    """

    def __init__(self) -> None:
        super().__init__(pipelining=True)
        self.transactions: list[Transaction] = []
        self.data_seen = 0
        self.hold_transaction = 0
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        with self.lock:
            self.data_seen += 1
            n = self.data_seen
        if n == self.hold_transaction:
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 not taken"
        with self.lock:
            self.transactions.append(Transaction(envelope.mail_from, list(envelope.rcpt_tos),
                                                 envelope.original_content))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def tsink() -> Iterator[tuple[TransactionSink, str]]:
    handler = TransactionSink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            data_size_limit=50 * 1024 * 1024)
    controller.start()
    yield handler, f"smtp://127.0.0.1:{port}"
    handler.release.set()
    controller.stop()


def members(count: int) -> list[str]:
    """Addresses over three domains, most at one (as a big list's are), shuffled by domain."""
    out = []
    for i in range(count):
        domain = "big.example" if i % 10 < 8 else ("mid.example" if i % 10 < 9 else
                                                  "small.example")
        out.append(f"m{i:05d}@{domain}")
    return out


# ------------------------------------------------------------------ the contract

def test_a_bulk_job_is_grouped_by_domain_deduplicated_and_keeps_its_vars():
    job = validate_job(bulk_job(["b@Two.example", "a@one.example", "B@two.example",
                                 "c@one.example"]))
    assert job.kind == "bulk"
    assert job.addresses == ["a@one.example", "c@one.example", "b@Two.example"]
    assert job.spec()["kind"] == "bulk" and job.spec()["vars"]["group_name"] == "demo"


def test_a_list_already_grouped_by_domain_without_duplicates_is_kept_as_given():
    # as messageserver sends it (domain order, a domain's members in its own order)
    given = ["zed@a.example", "Amy@A.example", "bob@b.example", "al@c.example"]
    job = validate_job(bulk_job(given))
    assert job.addresses == given and job.domains == ["a.example"] * 2 + ["b.example",
                                                                          "c.example"]
    # a duplicate, or a domain out of order, and the list is deduplicated and sorted
    assert validate_job(bulk_job([*given, "amy@a.example"])).addresses == [
        "Amy@A.example", "zed@a.example", "bob@b.example", "al@c.example"]
    shuffled = validate_job(bulk_job(["bob@b.example", *given[:2]]))
    assert shuffled.addresses == ["Amy@A.example", "zed@a.example", "bob@b.example"]
    assert shuffled.domains == ["a.example", "a.example", "b.example"]
    units = bulkrecords.build_units(job.addresses, domains=job.domains)
    assert units == bulkrecords.build_units(job.addresses)
    assert [u["rcpts"] for u in units] == [given[:2], given[2:3], given[3:]]


def test_a_bulk_recipient_carries_nothing_personal():
    data = bulk_job(["a@one.example"])
    data["recipients"] = [{"address": "a@one.example", "vars": {"name": "Ann"},
                           "mail_from": "bounce+x@groups.localhost"}]
    with pytest.raises(InvalidRequest) as exc:
        validate_job(data)
    assert "addresses only (mail_from, vars given)" in exc.value.fields["recipients[0]"]


def test_kind_and_job_vars_are_checked():
    with pytest.raises(InvalidRequest) as exc:
        validate_job(bulk_job(["a@one.example"], kind="batch"))
    assert exc.value.fields == {"kind": "must be one of personal, bulk"}
    personal = bulk_job(["a@one.example"])
    del personal["kind"]  # a personal job may carry job-wide vars too (each recipient's win)
    assert validate_job(personal).vars == personal["vars"]
    with pytest.raises(InvalidRequest) as exc:
        validate_job(bulk_job(["a@one.example"], vars=["x"]))
    assert "vars" in exc.value.fields


def test_chunks_keep_to_one_domain_and_at_most_100():
    items = [f"u{i}@a.example" for i in range(250)] + ["x@b.example", "y@B.example"]
    parts = bulk.chunks(items, 500, lambda a: a)
    assert [len(p) for p in parts] == [100, 100, 50, 2]
    assert all(len({bulk.domain_of(a) for a in p}) == 1 for p in parts)


def test_transaction_records_hold_one_domain_and_at_most_100():
    addresses = [f"u{i:03d}@a.example" for i in range(250)] + ["x@b.example", "y@c.example"]
    units = bulkrecords.build_units(addresses)
    assert [(len(u["rcpts"]), u["first"]) for u in units] == [
        (100, 0), (100, 100), (50, 200), (1, 250), (1, 251)]
    assert [a for u in units for a in u["rcpts"]] == addresses


def test_a_transaction_outcome_is_written_once_and_refusals_apart():
    unit = bulkrecords.build_units([f"u{i}@a.example" for i in range(5)])[0]
    everyone = bulkrecords.pending(unit)
    result = bulkrecords.TxnResult(Reply(250, "2.0.0 queued"),
                                   {1: Reply(550, "5.1.1 unknown"), 3: Reply(452, "4.2.2 full")})
    first = bulkrecords.apply(unit, everyone, result, now=1000, expired=False)
    assert first.deferred and first.record["state"] == "deferred"
    assert bulkrecords.pending(first.record) == [3]  # only the deferred one goes again
    assert first.tally == {"sent": 3, "bounced": 1, "deferred": 1}
    everything = {"sent", "bounced", "expired"}
    assert [(n, state) for n, _, state, _, _ in first.finished(everything)] == [
        (0, "sent"), (1, "bounced"), (2, "sent"), (4, "sent")]
    # without sent events the accepted are not walked: only the bounce is reported
    assert [n for n, *_ in first.finished({"bounced", "expired"})] == [1]
    second = bulkrecords.apply(first.record, [3], bulkrecords.TxnResult(Reply(250, "ok")),
                               now=2000, expired=False)
    assert not second.deferred and second.record["state"] == "sent"
    assert [n for n, *_ in second.finished(everything)] == [3]
    states = {n: (r["state"], r["attempts"]) for n, r in bulkrecords.expand(second.record)}
    assert states == {0: ("sent", 1), 1: ("bounced", 1), 2: ("sent", 1), 3: ("sent", 2),
                      4: ("sent", 1)}
    assert bulkrecords.counts(second.record) == ({"sent": 4, "bounced": 1}, 1)


def test_a_deferral_after_the_lifetime_expires_and_a_lost_connection_defers_everyone():
    unit = bulkrecords.build_units(["a@x.example", "b@x.example"])[0]
    lost = bulkrecords.apply(unit, [0, 1], bulkrecords.TxnResult(None, error="reset"),
                             now=1, expired=False)
    assert lost.deferred and lost.record["reply"] == "4.4.1 reset"
    assert not list(lost.finished({"sent", "bounced", "expired"}))
    late = bulkrecords.apply(lost.record, [0, 1], bulkrecords.TxnResult(
        Reply(451, "4.3.0 later")), now=2, expired=True)
    assert not late.deferred and late.record["state"] == "expired"
    assert [f[2] for f in late.finished({"expired"})] == ["expired", "expired"]


# ------------------------------------------------------------------ Karl, for real

def test_one_signed_copy_goes_to_at_most_100_recipients_per_transaction(karl_factory, tsink):
    handler, url = tsink
    karl = karl_factory(url)
    addresses = members(450)
    job_id = karl.client().submit_job(bulk_job(addresses))
    status = wait_state(karl.client(), job_id, lambda s: s["counts"].get("sent") == 450)
    assert status["counts"] == {"sent": 450}
    txns = handler.transactions
    assert sorted(r for t in txns for r in t.rcpts) == sorted(addresses)  # each once
    assert all(len(t.rcpts) <= 100 for t in txns)
    assert all(len({bulk.domain_of(r) for r in t.rcpts}) == 1 for t in txns)
    # 360 at big.example, 45 at mid, 45 at small: four, one and one transactions, and at
    # most one more per domain boundary (the spool is read 100 due recipients at a time)
    assert len(txns) <= 6 + 2
    assert sum(len(t.rcpts) == 100 for t in txns) == 3
    assert {t.mail_from for t in txns} == {MAIL_FROM}  # one envelope sender, no VERP
    assert len({t.data for t in txns}) == 1  # the same bytes: signed once
    copy = txns[0].data
    assert copy.count(b"DKIM-Signature:") == 1
    assert dkim.verify(copy, dnsfunc=dnsfunc_for(karl.key_path))
    assert b"To leave demo: mailto:demo+unsubscribe@groups.localhost" in copy
    assert b"List-Unsubscribe: <mailto:demo+unsubscribe@groups.localhost>" in copy


def test_a_refused_rcpt_bounces_that_recipient_only_and_a_4xx_retries_it_alone(
        karl_factory, tsink, receiver):
    handler, url = tsink

    def policy(rcpt: str, attempt: int) -> str | None:
        if rcpt == "m00003@big.example":
            return "550 5.1.1 user unknown"
        if rcpt == "m00005@big.example" and attempt <= 2:
            return "452 4.2.2 mailbox full"
        return None

    handler.policy = policy
    karl = karl_factory(url, KARL_RETRY_BASE="0.2")
    addresses = members(120)
    job_id = karl.client().submit_job(bulk_job(addresses))
    status = wait_state(karl.client(), job_id,
                        lambda s: s["counts"] == {"sent": 119, "bounced": 1})
    ghost = next(r for r in status["recipients"] if r["address"] == "m00003@big.example")
    assert ghost["code"] == 550 and ghost["attempts"] == 1
    late = next(r for r in status["recipients"] if r["address"] == "m00005@big.example")
    assert late["attempts"] == 3
    got = Counter(r for t in handler.transactions for r in t.rcpts)
    assert got == Counter(a for a in addresses if a != "m00003@big.example")  # each once
    # the retries carried the one deferred recipient, nobody else
    assert [t.rcpts for t in handler.transactions if "m00005@big.example" in t.rcpts] == [
        ["m00005@big.example"]]
    events = receiver.wait_for(lambda ev: any(e["state"] == "finished" for e in ev))
    bounced = [e for e in events if e["state"] == "bounced"]
    assert [(e["address"], e["code"]) for e in bounced] == [("m00003@big.example", 550)]
    [finished] = [e for e in events if e["state"] == "finished"]
    assert finished["counts"] == {"sent": 119, "bounced": 1, "expired": 0}
    assert finished["meta"] == {"group": "demo", "number": 9}


def test_killed_mid_job_it_resumes_without_sending_twice(karl_factory, tsink):
    handler, url = tsink
    handler.hold_transaction = 3  # the third transaction hangs before its 250
    # one connection, so one transaction at a time: exactly two are done when the third hangs
    karl = karl_factory(url, KARL_CONNECTIONS_PER_HOST="1", KARL_WORKERS="1")
    addresses = [f"m{i:04d}@big.example" for i in range(500)]
    job_id = karl.client().submit_job(bulk_job(addresses))
    assert handler.holding.wait(20), "the third transaction never came"
    time.sleep(0.3)  # the first two outcomes are written (synced) meanwhile
    karl.kill9()
    handler.release.set()  # the held transaction is refused: those recipients got nothing
    taken_before = [r for t in handler.transactions for r in t.rcpts]
    assert len(taken_before) == 200
    karl.start()
    status = wait_state(karl.client(), job_id, lambda s: s["counts"].get("sent") == 500,
                        timeout=30)
    assert status["counts"] == {"sent": 500}
    copies = Counter(r for t in handler.transactions for r in t.rcpts)
    assert set(copies) == set(addresses)  # nobody lost
    assert max(copies.values()) == 1  # and nobody the server had taken got it again


def test_a_domain_deferred_whole_is_retried_in_one_transaction(karl_factory, tsink):
    handler, url = tsink
    # greylisting: every recipient at big.example is refused once with 451
    handler.policy = lambda rcpt, n: "451 4.7.1 greylisted" if (
        rcpt.endswith("@big.example") and n == 1) else None
    karl = karl_factory(url, KARL_RETRY_BASE="0.5")
    addresses = [f"m{i:03d}@big.example" for i in range(80)]
    job_id = karl.client().submit_job(bulk_job(addresses))
    wait_state(karl.client(), job_id, lambda s: s["counts"].get("sent") == 80)
    assert [len(t.rcpts) for t in handler.transactions] == [80]  # retried as one


# ------------------------------------------------------------------ direct MX delivery

def bulk_deliver(config, *addresses: str) -> list:  # noqa: ANN001
    """One bulk batch through Karl's real Deliverer (as a worker runs it), outcomes in order."""
    from karl.delivery import Batch, Deliverer

    async def go() -> list:
        deliverer = Deliverer(config)
        batch = Batch("bulk-mx", config.relays[0], karl_mail("plain.eml"),
                      {"kind": "bulk", "mail_from": MAIL_FROM, "dkim": False},
                      [(i, {"address": a}) for i, a in enumerate(addresses)])
        try:
            return sorted(await deliverer.deliver(batch), key=lambda o: o.index)
        finally:
            await deliverer.close()

    return asyncio.run(go())


def test_over_mx_each_domain_is_one_transaction_to_its_first_live_host(dns, mx_port):
    live = start_secure_sink(hostname="127.0.0.2", port=mx_port)
    try:
        outcomes = bulk_deliver(mx_config(dns, mx_port, smtp_timeout=2.0),
                                "a@fallback.test", "b@fallback.test", "c@pref.test",
                                "d@nullmx.test", "e@nullmx.test")
        assert [(o.state, o.code) for o in outcomes] == [
            ("sent", 250), ("sent", 250), ("sent", 250), ("bounced", 556), ("bounced", 556)]
        assert sorted(m.rcpt for m in live.handler.received()) == [
            "a@fallback.test", "b@fallback.test", "c@pref.test"]
        assert not any(o.relay_failed for o in outcomes)
    finally:
        live.controller.stop()


def test_without_pipelining_a_refused_rcpt_still_bounces_only_its_recipient():
    from tests.karl.conftest import start_sink
    from tests.karl.deliver import karl_config

    sink = start_sink(pipelining=False)
    sink.handler.policy = lambda rcpt, n: "550 5.1.1 no such user" if rcpt.startswith(
        "ghost") else None
    try:
        outcomes = bulk_deliver(karl_config(sink.url), "a@one.example", "ghost@one.example",
                                "b@one.example")
        assert [(o.state, o.code) for o in outcomes] == [
            ("sent", 250), ("bounced", 550), ("sent", 250)]
        assert sorted(m.rcpt for m in sink.handler.received()) == ["a@one.example",
                                                                   "b@one.example"]
        # nobody taken: no DATA at all, each recipient its own refusal
        sink.handler.policy = lambda rcpt, n: "450 4.2.0 busy"
        outcomes = bulk_deliver(karl_config(sink.url), "c@one.example", "d@one.example")
        assert [(o.state, o.code) for o in outcomes] == [("deferred", 450), ("deferred", 450)]
        assert len(sink.handler.received()) == 2
    finally:
        sink.controller.stop()


# ------------------------------------------------------------------ a spool written before

def spool_old_format_bulk_job(spool_dir, data: dict) -> str:  # noqa: ANN001
    """Spool a bulk job as Karl did before transaction records: a record and a queue entry
    per recipient, no ``units`` in the spec (the layout of karl/spool.py until bulk10x)."""
    job = validate_job(data)
    spool = Spool(spool_dir)
    try:
        created = now_ms()
        job_id = f"{created:013x}0badf00d"
        spec = job.spec() | {"created": created, "count": job.count}
        assert "units" not in spec
        with spool.db.write_batch(sync=True) as wb:
            wb.put(b"J" + job_id.encode(), json.dumps(spec).encode())
            wb.put(b"M" + job_id.encode(), job.message)
            wb.put(b"P" + job_id.encode(), str(job.count).encode())
            for i, address in enumerate(job.addresses):
                wb.put(rkey(job_id, i), json.dumps({"address": address, "state": "queued",
                                                    "attempts": 0}).encode())
                wb.put(qkey(created, job_id, i), b"")
    finally:
        spool.close()
    return job_id


def test_a_bulk_job_spooled_by_the_old_code_is_still_delivered(karl_factory, tsink, receiver):
    handler, url = tsink
    handler.policy = lambda rcpt, n: "550 5.1.1 user unknown" if rcpt == "m00003@big.example" \
        else None
    karl = karl_factory(url)
    karl.stop()
    addresses = members(250)
    job_id = spool_old_format_bulk_job(karl.data_dir / "karl-spool", bulk_job(addresses))
    karl.start()
    status = wait_state(karl.client(), job_id,
                        lambda s: s["counts"] == {"sent": 249, "bounced": 1})
    assert len(status["recipients"]) == 250
    copies = Counter(r for t in handler.transactions for r in t.rcpts)
    assert copies == Counter(a for a in addresses if a != "m00003@big.example")
    assert all(len(t.rcpts) <= 100 for t in handler.transactions)
    events = receiver.wait_for(lambda ev: any(e["state"] == "finished" for e in ev))
    assert [e["address"] for e in events if e["state"] == "bounced"] == ["m00003@big.example"]
    [finished] = [e for e in events if e["state"] == "finished"]
    assert finished["counts"] == {"sent": 249, "bounced": 1, "expired": 0}


def test_a_job_report_and_dead_letters_still_name_each_recipient(karl_factory, tsink):
    handler, url = tsink
    handler.policy = lambda rcpt, n: "550 5.1.1 user unknown" if rcpt.startswith(
        "m00007@") else None
    karl = karl_factory(url)
    addresses = members(30)
    job_id = karl.client().submit_job(bulk_job(addresses))
    status = wait_state(karl.client(), job_id,
                        lambda s: s["counts"] == {"sent": 29, "bounced": 1})
    assert sorted(r["address"] for r in status["recipients"]) == sorted(addresses)
    [dead] = karl.client().dead_letters()
    assert (dead["job_id"], dead["address"], dead["code"]) == (job_id, "m00007@big.example",
                                                               550)
