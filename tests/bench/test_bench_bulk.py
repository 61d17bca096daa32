"""The bulk benchmark's reference: Mailman's chunking and delivery loop, against a real SMTP sink."""

from __future__ import annotations

import base64
import email
import email.policy

from bench.bench_bulk import MailmanStyleBulk, bulk_job, chunkify, members, parts
from bench.bench_karl import make_post
from karl.contract import validate_job
from messageserver import fanoutslices
from tests.karl.conftest import start_sink


def test_chunks_follow_mailmans_top_level_domain_buckets():
    addresses = {f"u{i}@a.com" for i in range(23)} | {f"v{i}@b.org" for i in range(5)} | {
        f"w{i}@c.net" for i in range(4)} | {"x@d.de", "y@e.ca"}
    chunks = chunkify(set(addresses), 10)
    assert sorted(len(c) for c in chunks) == [1, 1, 3, 9, 10, 10]  # com 23, net+org 9, ...
    assert set().union(*chunks) == addresses and all(len(c) <= 10 for c in chunks)
    assert not any({a.rsplit(".", 1)[1] for a in c} >= {"com", "org"} for c in chunks)


def test_the_reference_sends_ten_recipients_per_transaction_over_one_connection():
    sink = start_sink()
    try:
        addresses = members(60)
        msg = email.message_from_bytes(make_post(), policy=email.policy.compat32)
        deliverer = MailmanStyleBulk("127.0.0.1", sink.port)
        assert deliverer.deliver(msg, set(addresses), "demo-bounces@groups.localhost") == {}
        deliverer.quit()
        assert sorted(m.rcpt for m in sink.handler.received()) == sorted(addresses)
        assert sink.handler.connections == 1  # max_sessions_per_connection = 0: kept open
    finally:
        sink.controller.stop()


def test_the_benchmark_job_is_a_valid_bulk_job_grouped_by_domain():
    addresses = members(500)
    assert len({a.split("@")[1] for a in addresses}) > 10
    job = validate_job(bulk_job(make_post(), addresses))
    assert job.kind == "bulk" and job.count == 500
    domains = [a.split("@")[1] for a in job.addresses]
    assert domains == sorted(domains)
    assert base64.b64decode(bulk_job(make_post(), addresses[:1])["message_b64"]) == make_post()


def test_karl_is_handed_the_members_in_messageservers_growing_parts(monkeypatch):
    addresses = members(100_000)
    cut = parts(addresses)
    assert [len(p) for p in cut] == fanoutslices.sizes(100_000, bulk=True) == [
        2000, 8000, 32000, 50000, 8000]
    flat = [a for p in cut for a in p]
    assert sorted(flat) == sorted(addresses) and len(set(flat)) == len(flat)  # each once
    domains = [a.partition("@")[2] for a in flat]
    assert domains == sorted(domains)  # in domain order, as the continuation takes them
    monkeypatch.setenv("FANOUT_FIRST_BULK_JOB_RECIPIENTS", "500")
    assert [len(p) for p in parts(addresses[:10_000])] == [500, 2000, 7500]
