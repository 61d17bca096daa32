"""Retries, bounces, expiry, relay failover and crash safety, with real processes and sockets."""

from __future__ import annotations

import base64
import time
from collections import Counter

from tests.karl.conftest import start_sink
from tests.karl.test_api import job, wait_state


def test_4xx_defers_with_backoff_then_delivers_once(karl_factory, sink, receiver):
    # bob's mailbox answers 451 twice, then takes the message
    sink.handler.policy = lambda rcpt, n: "451 4.2.1 try later" if n <= 2 else None
    karl = karl_factory(sink.url, KARL_RETRY_BASE="0.2")
    client = karl.client()
    job_id = client.submit_job(job([{"address": "bob@example.org"}],
                                   events=["deferred", "sent", "bounced"]))
    first = wait_state(client, job_id, lambda s: s["recipients"][0]["state"] == "deferred")
    assert first["recipients"][0]["reply"].startswith("4.2.1 try later")
    assert first["recipients"][0]["next_attempt"] is not None
    status = wait_state(client, job_id, lambda s: s["counts"].get("sent") == 1)
    assert status["recipients"][0]["attempts"] == 3
    assert [m.rcpt for m in sink.handler.received()] == ["bob@example.org"]
    events = receiver.wait_for(lambda ev: any(e["state"] == "sent" for e in ev))
    assert [e["state"] for e in events] == ["deferred", "deferred", "sent"]


def test_5xx_bounces_at_once_and_is_reported_and_listed(karl_factory, sink, receiver):
    sink.handler.policy = lambda rcpt, n: "550 5.1.1 user unknown" if rcpt.startswith(
        "ghost") else None
    receiver.refuse = 2  # messageserver is busy at first: the events must wait, not vanish
    karl = karl_factory(sink.url)
    client = karl.client()
    job_id = client.submit_job(job([{"address": "ghost@example.org"},
                                    {"address": "bob@example.org"}]))
    status = wait_state(client, job_id, lambda s: s["counts"] == {"bounced": 1, "sent": 1})
    ghost = next(r for r in status["recipients"] if r["address"] == "ghost@example.org")
    assert ghost["attempts"] == 1 and ghost["code"] == 550
    [event] = receiver.wait_for(lambda ev: len(ev) >= 1)
    assert event["state"] == "bounced" and event["address"] == "ghost@example.org"
    assert event["code"] == 550 and event["reply"] == "5.1.1 user unknown"
    assert event["meta"] == {"group": "demo", "number": 7}
    [dead] = client.dead_letters()
    assert dead["address"] == "ghost@example.org" and dead["job_id"] == job_id
    assert receiver.refuse == 0


def test_deferred_recipient_expires_after_its_lifetime(karl_factory, sink, receiver):
    sink.handler.policy = lambda rcpt, n: "452 4.2.2 mailbox full"
    karl = karl_factory(sink.url, KARL_RETRY_BASE="0.3")
    client = karl.client()
    job_id = client.submit_job(job([{"address": "full@example.org"}], lifetime=2))
    status = wait_state(client, job_id, lambda s: s["counts"].get("expired") == 1, timeout=15)
    assert status["recipients"][0]["attempts"] >= 2
    [event] = receiver.wait_for(lambda ev: len(ev) >= 1)
    assert event["state"] == "expired" and "mailbox full" in event["reply"]


def test_a_down_relay_fails_over_is_probed_and_recovers(karl_factory, sink):
    from tests.conftest import free_port

    down_port = free_port()
    karl = karl_factory(f"smtp://127.0.0.1:{down_port},{sink.url}",
                        KARL_RELAY_FAILURES="2", KARL_RELAY_RECOVERIES="1",
                        KARL_PROBE_INTERVAL="0.3", KARL_BATCH_SIZE="5")
    client = karl.client()
    first = client.submit_job(job([{"address": f"a{i}@example.org"} for i in range(30)]))
    wait_state(client, first, lambda s: s["counts"].get("sent") == 30)
    health = {r["relay"]: r for r in client.health()["relays"]}
    assert health[f"smtp://127.0.0.1:{down_port}"]["healthy"] is False
    assert "cannot connect" in health[f"smtp://127.0.0.1:{down_port}"]["last_error"]
    assert health[sink.url]["healthy"] is True
    # The first relay comes back: a probe finds it, and it takes its share again.
    revived = start_sink(down_port)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if {r["relay"]: r for r in client.health()["relays"]}[
                    f"smtp://127.0.0.1:{down_port}"]["healthy"]:
                break
            client.submit_job(job([{"address": "probe-bait@example.org"}]))
            time.sleep(0.4)
        second = client.submit_job(job([{"address": f"b{i}@example.org"} for i in range(40)]))
        wait_state(client, second, lambda s: s["counts"].get("sent") == 40)
        assert any(m.rcpt.startswith("b") for m in revived.handler.received())
        assert any(m.rcpt.startswith("b") for m in sink.handler.received())
    finally:
        revived.controller.stop()
    all_copies = Counter(m.rcpt for m in sink.handler.received() + revived.handler.received()
                         if not m.rcpt.startswith("probe"))
    assert all(n == 1 for n in all_copies.values()) and len(all_copies) == 70


def test_kill_9_mid_fanout_loses_nothing(karl_factory, sink):
    count, in_flight = 2000, 200
    env = {"KARL_CONCURRENCY": str(in_flight), "KARL_BATCH_SIZE": "50"}
    karl = karl_factory(sink.url, **env)
    raw = base64.b64encode(b"From: a@example.org\r\nTo: demo@groups.localhost\r\n"
                           b"Subject: fan-out\r\n\r\nhello\r\n").decode()
    rcpts = [{"address": f"m{i:04d}@example.org", "vars": {"i": i}} for i in range(count)]
    job_id = karl.client().submit_job({"message_b64": raw, "mail_from": "bounce@groups.localhost",
                                       "footer": {"text": "you are {{ i }}"},
                                       "recipients": rcpts})
    sink.handler.wait_for(300)
    karl.kill9()
    at_kill = len(sink.handler.received())
    assert at_kill < count, "the fan-out finished before the kill; nothing was tested"
    karl.start()
    status = wait_state(karl.client(), job_id, lambda s: s["counts"].get("sent") == count,
                        timeout=90)
    assert status["counts"] == {"sent": count}
    copies = Counter(m.rcpt for m in sink.handler.received())
    assert set(copies) == {r["address"] for r in rcpts}  # nobody lost
    twice = [a for a, n in copies.items() if n > 1]
    assert all(copies[a] == 2 for a in twice)
    assert len(twice) <= in_flight  # only what was in flight at the kill


def test_a_finished_job_reports_its_counts_once_in_one_event(karl_factory, sink, receiver):
    """events=["finished"]: no event per copy, one per job with what became of every copy."""
    sink.handler.policy = lambda rcpt, n: (
        "550 5.1.1 user unknown" if rcpt.startswith("ghost")
        else "452 4.2.2 mailbox full" if rcpt.startswith("full")
        else "451 4.2.1 try later" if rcpt.startswith("slow") and n == 1 else None)
    karl = karl_factory(sink.url, KARL_RETRY_BASE="0.3")
    client = karl.client()
    job_id = client.submit_job(job([{"address": a} for a in (
        "ghost@example.org", "full@example.org", "slow@example.org", "bob@example.org",
        "ann@example.org")], events=["finished"], lifetime=2))
    live = wait_state(client, job_id, lambda s: s["counts"].get("deferred") == 1
                      and s["counts"].get("sent") == 3)
    summary = client.job_status(job_id, summary=True)  # counts only, for a report page
    assert "recipients" not in summary and summary["counts"]["bounced"] == 1
    assert len(live["recipients"]) == 5
    [event] = receiver.wait_for(lambda ev: len(ev) >= 1, timeout=20)
    assert event["state"] == "finished" and event["id"] == f"{job_id}/finished"
    assert event["counts"] == {"sent": 3, "bounced": 1, "expired": 1}
    assert (event["total"], event["deferred"]) == (5, 2)  # slow (once) and full (till expiry)
    assert event["meta"] == {"group": "demo", "number": 7}
    time.sleep(1.5)  # nothing more comes for this job
    assert len(receiver.events) == 1


def test_a_job_reports_when_its_copies_were_signed_and_sent(karl_factory, sink):
    """GET /v1/jobs/ID's timeline: spooled, then first copy signed, first and last sent.

    The end-to-end benchmark (bench/bench_fanout.py) prints a post's stages
    from it, so each must fall, in order, between submitting and seeing the copies.
    """
    karl = karl_factory(sink.url, KARL_BATCH_SIZE="20")
    client = karl.client()
    before = time.time()
    job_id = client.submit_job(job([{"address": f"m{i}@example.org"} for i in range(60)]))
    status = wait_state(client, job_id, lambda s: s["counts"].get("sent") == 60)
    after = time.time()
    marks = status["timeline"]
    assert set(marks) == {"spooled_ms", "first_signed_ms", "first_sent_ms", "last_sent_ms"}
    assert (before * 1000 - 5 <= marks["spooled_ms"] <= marks["first_signed_ms"]
            <= marks["first_sent_ms"] <= marks["last_sent_ms"] <= after * 1000 + 5)
    assert marks["first_sent_ms"] < marks["last_sent_ms"]  # three batches, not one moment
    got = sink.handler.wait_for(60)
    assert len(got) == 60
