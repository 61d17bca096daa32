"""The outbox over several real Karl nodes (KARL_URLS): split by domain, re-planned, drained.

Two real Karl processes, each with its own spool, relay to real aiosmtpd sinks.
The outbox dispatcher runs without a client, as messageserver runs it, so it
reads KARL_URLS and asks each node's /health:
  * a post is split by recipient domain: each node sends only its domains,
    every member gets one copy, and each row records the node that took it;
  * a node killed after it answered /health: the hand-off fails before
    anything reached it, the row is planned again onto the live node, and no
    copy goes out twice;
  * a node that took its part and died before delivering it delivers its
    spool when it is started again on the same spool, while new posts went to
    the other node meanwhile;
  * a hand-off whose answer was lost (the node may have the job) stays with
    that node: its copies are never sent by another.
"""

from __future__ import annotations

import http.server
import tempfile
import threading
import time
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from groups import deliveryreport
from groups.membership import add_members
from groups.models import Message, OutboxItem, User
from karl import nodes
from messageserver import outbox, pipeline
from platformcore.env import get_env
from tests.conftest import free_port, mail
from tests.karl.conftest import TOKEN, EventReceiver, KarlProcess, start_sink

pytestmark = pytest.mark.urls("groups.urls")

DOMAINS = [f"d{i}.example" for i in range(12)]
MEMBERS = 60


@pytest.fixture
def two_nodes(monkeypatch):
    sink, receiver = start_sink(), EventReceiver()
    root = Path(tempfile.mkdtemp(prefix="karl-nodes-"))
    started = []
    for name in ("a", "b"):
        (root / name).mkdir()
        started.append(KarlProcess(root / name, sink.url, receiver.url).start())
    monkeypatch.setenv("KARL_URLS", ",".join(k.url for k in started))
    monkeypatch.setenv("INTERNAL_API_TOKEN", TOKEN)
    monkeypatch.setenv("KARL_HEALTH_TTL", "60")
    monkeypatch.setattr(nodes, "_shared", None)  # this test's own health cache
    get_env.cache_clear()
    yield started, sink
    for k in started:
        k.stop()
    sink.controller.stop()
    receiver.stop()
    get_env.cache_clear()


def _post(group, n: int = 1) -> None:
    raw = mail("member_post.eml").replace(b"Message-ID: <", f"Message-ID: <{n}.".encode(), 1)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"], raw)
    assert outcome.kind == "accepted", outcome


def _members(group) -> list[str]:
    add_members(group, [f"m{i}@{DOMAINS[i % len(DOMAINS)]}" for i in range(MEMBERS)])
    return list(group.memberships.filter(status="active").values_list("email", flat=True))


def _drain() -> None:
    for _ in range(20):
        outbox.dispatch_due()
        if not OutboxItem.objects.exclude(state=OutboxItem.State.DONE).exists():
            return
    raise AssertionError([(i.id, i.state, i.karl_node, i.last_error)
                          for i in OutboxItem.objects.exclude(state=OutboxItem.State.DONE)])


def _domains_by_node() -> dict[str, set[str]]:
    by_node: dict[str, set[str]] = {}
    for item in OutboxItem.objects.filter(kind="job"):
        by_node.setdefault(item.karl_node, set()).update(
            nodes.domain_of(r["address"]) for r in item.payload["recipients"])
    return by_node


def test_a_post_is_split_by_domain_and_every_member_gets_one_copy(demo_group, two_nodes):
    (a, b), sink = two_nodes
    members = _members(demo_group)
    _post(demo_group)
    _drain()
    got = Counter(m.rcpt for m in sink.handler.wait_for(len(members)))
    assert set(got) == set(members) and set(got.values()) == {1}
    by_node = _domains_by_node()
    assert set(by_node) == {a.url, b.url}, "both nodes got a part"
    assert not by_node[a.url] & by_node[b.url], "a domain is sent by one node only"
    for node, domains in by_node.items():
        assert {nodes.owner(d, [a.url, b.url]) for d in domains} == {node}
    rows = OutboxItem.objects.filter(kind="job")
    assert all(r.description.startswith("demo #") and "(node part" in r.description
               for r in rows)
    assert all(r.karl_job_id for r in rows)  # each node's job id, next to its node
    # the delivery report asks each job's own node for its live counts
    message = Message.objects.get(group=demo_group, number=1)
    deadline = time.monotonic() + 10  # Karl records a batch just after the sink has it
    while (report := deliveryreport.build(message)).totals["sent"] < len(members):
        assert time.monotonic() < deadline, report.jobs
        time.sleep(0.1)
    assert not report.karl_unreachable
    assert {j.node for j in report.jobs} == {a.url, b.url}
    assert report.totals["total"] == len(members) and report.totals["waiting"] == 0
    out = StringIO()
    call_command("outbox", "--nodes", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all("healthy" in line and "handed off" in line for line in lines)
    assert {line.split()[0] for line in lines} == {a.url, b.url}
    admin = Client()
    admin.force_login(User.objects.create_user("root", "root@example.org", "pw",
                                               is_superuser=True, is_staff=True))
    page = admin.get(reverse("site_outbox")).content.decode()
    assert "Karl nodes" in page and a.url in page and b.url in page and "Down" not in page


def test_a_hand_off_to_a_node_that_died_is_planned_again_onto_the_live_one(
        demo_group, two_nodes):
    (a, b), sink = two_nodes
    members = _members(demo_group)
    assert nodes.shared_health().healthy([a.url, b.url]) == [a.url, b.url]  # both answered
    b.kill9()  # ... and b dies before the hand-off: its /health answer is still believed
    _post(demo_group)
    _drain()
    got = Counter(m.rcpt for m in sink.handler.wait_for(len(members)))
    assert set(got) == set(members) and set(got.values()) == {1}
    assert set(_domains_by_node()) == {a.url}, "everything went to the live node"
    assert nodes.shared_health().healthy([a.url, b.url]) == [a.url]  # b is marked down


def test_a_node_that_comes_back_delivers_its_spool(demo_group, two_nodes):
    (a, b), sink = two_nodes
    members = _members(demo_group)
    # b's own relay is not up yet: b spools its part and keeps it (deferred)
    b.stop()
    later = free_port()
    b = KarlProcess(b.data_dir, f"smtp://127.0.0.1:{later}", b.events_url, port=b.port).start()
    b_members = [m for m in members if nodes.owner(nodes.domain_of(m), [a.url, b.url]) == b.url]
    assert b_members and len(b_members) < len(members)
    _post(demo_group)
    _drain()
    sink.handler.wait_for(len(members) - len(b_members))
    b.kill9()  # b dies with its part in its spool
    nodes.shared_health().mark_down(b.url)
    OutboxItem.objects.all().delete()
    _post(demo_group, 2)  # meanwhile a second post goes to a alone
    _drain()
    assert set(_domains_by_node()) == {a.url}
    got = sink.handler.wait_for(2 * len(members) - len(b_members))
    # b's relay is up, and b comes back on its own spool and port: it delivers what it took
    relay = start_sink(port=later)
    back = KarlProcess(b.data_dir, b.relays, b.events_url, port=b.port).start()
    try:
        got_b = relay.handler.wait_for(len(b_members), timeout=40)
    finally:
        back.stop()
        relay.controller.stop()
    per_member = Counter(m.rcpt for m in got + got_b)
    assert set(per_member) == set(members) and set(per_member.values()) == {2}, per_member
    assert sorted(m.rcpt for m in got_b) == sorted(b_members)


class _DropsJobs(http.server.BaseHTTPRequestHandler):
    """A node that answers /health and then loses its answer to every job it is sent:
    the request went out, so the node may have spooled it (as a Karl killed mid-answer)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok", "ok": true}')

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.close_connection = True  # no answer at all

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


def test_a_hand_off_that_may_have_arrived_stays_with_its_node(demo_group, two_nodes,
                                                               monkeypatch):
    (a, _), sink = two_nodes
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _DropsJobs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lossy = f"http://127.0.0.1:{server.server_port}"
    try:
        monkeypatch.setenv("KARL_URLS", f"{a.url},{lossy}")
        get_env.cache_clear()
        members = _members(demo_group)
        lossy_members = [m for m in members
                         if nodes.owner(nodes.domain_of(m), [a.url, lossy]) == lossy]
        assert lossy_members
        _post(demo_group)
        for _ in range(3):
            outbox.dispatch_due()
        pinned = OutboxItem.objects.exclude(state=OutboxItem.State.DONE).get()
        assert pinned.karl_node == lossy and pinned.state == OutboxItem.State.PENDING
        assert sorted(r["address"] for r in pinned.payload["recipients"]) == \
            sorted(lossy_members)
        # lost answer ("Karl at ... is unreachable"), or, on a later pass, "node ... is down"
        assert "unreachable" in pinned.last_error or "is down" in pinned.last_error
        got = sink.handler.wait_for(len(members) - len(lossy_members))
        time.sleep(0.5)
        assert not {m.rcpt for m in sink.handler.received()} & set(lossy_members), \
            "copies the lossy node may have were sent by another node"
        assert len(got) == len(members) - len(lossy_members)
    finally:
        server.shutdown()
        server.server_close()


def test_the_sites_own_mail_goes_to_a_live_node(two_nodes):
    from groups.web.mail import send_via_karl

    (a, b), sink = two_nodes
    to = next(f"x@{d}" for d in DOMAINS if nodes.owner(d, [a.url, b.url]) == b.url)
    assert nodes.shared_health().healthy([a.url, b.url]) == [a.url, b.url]
    b.kill9()  # b's /health answer is still believed: the hand-off fails, a takes it
    send_via_karl("no-reply@groups.localhost", [to], "Confirm your address", "Click.")
    [got] = sink.handler.wait_for(1)
    assert got.rcpt == to and b"Confirm your address" in got.data
    assert nodes.shared_health().healthy([a.url, b.url]) == [a.url]
