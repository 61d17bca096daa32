"""The production topology on one machine, with a Karl node killed -9 in the middle of a fan-out.

Real processes, as docs/deploy.md's "Several Karl nodes" runs them, sharing
nothing but the database, the broker and the search engine:
  * PostgreSQL (a fresh database of this test's own), Redis (a redis-server
    of its own) as Celery's broker and the cache, OpenSearch (osmem-server)
    for search with SEARCH_CLIENT=opensearch;
  * messageserver with KARL_URLS naming two Karl nodes, each with its own
    spool and port, both relaying to one real SMTP sink that records every
    copy;
  * two smtpd processes on their own ports, the web under gunicorn (the
    production server) with two workers, the Celery worker and beat, errord.

300 members over ten domains; posts go alternately to both smtpd. Once the
sink has some but not all of node B's copies, B is killed with SIGKILL; more
posts go in while it is down (all to node A: B's domains move, A's do not),
then B is started again on its own spool and delivers what it had taken.
Every member gets every post; a repeat is allowed only for a copy that was in
flight at B when it died: at most B's in-flight window (KARL_CONCURRENCY and
KARL_BATCH_SIZE, here 8), and only to B's domains. The count is printed in
the outcome table. Finally a post is found by the website's search, served by
gunicorn from OpenSearch, indexed by the Celery worker.

It needs PostgreSQL on 127.0.0.1:5432 and redis-server: skipped without them
on a developer's machine, failed in CI (CI=true). It runs in the SQLite pass
of `make test` only (it makes its own PostgreSQL database), not in the
PostgreSQL pass again.
"""

from __future__ import annotations

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from karl import nodes
from tests.conftest import free_port, in_ci
from tests.e2e.platform import PROJECT, Platform
from tests.karl.test_once import alive, descendants
from tests.reliability.conftest import query
from tests.reliability.redisserver import redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
GROUP = "topo"
OWNER = "owner@example.org"
DOMAINS = [f"dom{i}.example" for i in range(10)]
MEMBERS = 300  # the owner and 299 more
KARL_WINDOW = 8  # KARL_CONCURRENCY = KARL_BATCH_SIZE: the most copies a node has in flight
POSTS_BEFORE, POSTS_DURING = 4, 2


def _require_postgres() -> None:
    import psycopg

    try:
        psycopg.connect(PG_SERVER + "/postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "not here"
        if in_ci():
            pytest.fail(f"PostgreSQL at {PG_SERVER} is unreachable, and CI requires it: {exc}")
        pytest.skip(f"PostgreSQL at {PG_SERVER} is unreachable: {exc}")


def _osmem():
    try:
        from osmem_server import OsmemServer
    except ImportError as exc:
        if in_ci():
            pytest.fail(f"osmem-server is not installed, and CI requires it: {exc}")
        pytest.skip(f"osmem-server is not installed: {exc}")
    return OsmemServer.start(addr=f"127.0.0.1:{free_port()}", japanese=False)


@dataclass
class Topology:
    p: Platform
    karl_ports: dict[str, int]
    smtpd_ports: list[int]
    spools: dict[str, Path]
    logs: dict[str, Path] = field(default_factory=dict)

    def karl_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.karl_ports[node]}"

    @property
    def urls(self) -> list[str]:
        return [self.karl_url(n) for n in sorted(self.karl_ports)]

    def launch(self, name: str, argv: list[str], **env: str) -> subprocess.Popen:
        path = self.p.root / f"{name}.log"
        self.logs[name] = path
        proc = subprocess.Popen([sys.executable, *argv], cwd=PROJECT,
                                env={**self.p.env, **env}, stdout=open(path, "ab"),  # noqa: SIM115
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.p.procs[name] = proc  # Platform.stop stops it
        return proc

    def log(self, name: str) -> str:
        path = self.logs.get(name) or self.p.root / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def wait(self, name: str, ready, timeout: float = 60.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.p.procs[name]
            assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{self.log(name)}"
            try:
                if ready():
                    return
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{name} not ready in {timeout}s:\n{self.log(name)}")

    def start_karl(self, node: str) -> None:
        name = f"karl-{node}"
        self.launch(name, ["-m", "karl", "--port", str(self.karl_ports[node]),
                           "--spool", str(self.spools[node])])
        self.wait(name, lambda: httpx.get(self.karl_url(node) + "/health",
                                          timeout=1).status_code == 200)

    def kill9(self, name: str) -> None:
        proc = self.p.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _tcp(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture
def topology(tmp_path: Path, monkeypatch) -> Iterator[Topology]:
    _require_postgres()
    monkeypatch.setenv("DATABASE_URL", PG_SERVER + "/postgres")  # Platform makes its own db
    opensearch = _osmem()
    with redis_server(tmp_path) as redis:
        p = Platform(tmp_path)
        topo = Topology(p, {"a": free_port(), "b": free_port()}, [free_port(), free_port()],
                        {"a": tmp_path / "karl-spool-a", "b": tmp_path / "karl-spool-b"})
        try:
            p.prepare()  # a fresh PostgreSQL database, migrated; the SMTP sink
            assert p.pg_db, "the topology runs on PostgreSQL"
            p.env.update({
                "REDIS_URL": redis.url, "ELASTICSEARCH_URL": opensearch.url,
                "SEARCH_CLIENT": "opensearch", "KARL_URLS": ",".join(topo.urls),
                "KARL_HEALTH_TTL": "1", "KARL_WORKERS": "0",
                "KARL_CONCURRENCY": str(KARL_WINDOW), "KARL_BATCH_SIZE": str(KARL_WINDOW),
                "KARL_RETRY_BASE": "0.5", "KARL_PROBE_INTERVAL": "0.5", "WEB_WORKERS": "2",
                "SENDER_AUTH": "off",
            })
            p.manage("migrate", "--verbosity", "0")  # again: the search schema in OpenSearch
            p.manage("dkimkey")  # one key for both nodes, made before either starts
            p.manage("creategroup", GROUP, "--owner", OWNER)
            p.manage("addmembers", GROUP, *[f"m{i}@{DOMAINS[i % len(DOMAINS)]}"
                                            for i in range(1, MEMBERS)])
            p.start("errord", "messageserver")
            for node in ("a", "b"):
                topo.start_karl(node)
            for n, port in enumerate(topo.smtpd_ports, 1):
                topo.launch(f"smtpd-{n}", ["-m", "smtpd"], SMTPD_PORT=str(port),
                            SMTPD_HTTP_PORT=str(free_port()))
            topo.launch("web", ["-m", "gunicorn", "-c", "python:groups.gunicorn_conf",
                                "groups.wsgi:application"])
            topo.launch("scheduler", ["-m", "cronjobs.scheduler"])
            for n, port in enumerate(topo.smtpd_ports, 1):
                topo.wait(f"smtpd-{n}", lambda port=port: _tcp(port))
            topo.wait("web", lambda: httpx.get(p.url("web", "/"), timeout=2).status_code < 500)
            topo.wait("scheduler", lambda: " ready." in topo.log("scheduler"), timeout=90)
            yield topo
        finally:
            p.stop()
            opensearch.close()
            for proc in list(p.procs.values()):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)


def _post(port: int, tag: str, n: int) -> str:
    msg = EmailMessage()
    msg["From"] = OWNER
    msg["To"] = f"{GROUP}@groups.localhost"
    msg["Subject"] = f"topology {tag} post {n}"
    mid = f"{tag}.{n}@topology.example"
    msg["Message-ID"] = f"<{mid}>"
    msg.set_content(f"Post {n} of {tag}: the word zanzibar{tag} is only here.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg)
    return mid


def _copies(p: Platform, tag: str) -> Counter:
    """(Message-ID, recipient) -> copies the sink received for this test's posts."""
    out: Counter = Counter()
    with p.sink.lock:
        messages = list(p.sink.messages)
    for m in messages:
        head = m.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        found = re.search(rf"(?im)^message-id:\s*<([^>]*{tag}[^>]*)>", head)
        if found:
            for rcpt in m.rcpt_tos:
                out[(found.group(1), rcpt)] += 1
    return out


def test_two_karl_nodes_one_killed_mid_fanout_every_member_gets_every_post(topology, outcomes):
    t, p = topology, topology.p
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()
    members = [r for (r,) in query(p, "select m.email from groups_membership m join groups_group"
                                      f" g on g.id = m.group_id where g.name = '{GROUP}'")]
    assert len(members) == MEMBERS
    b_url = t.karl_url("b")
    b_members = {m for m in members if nodes.owner(nodes.domain_of(m), t.urls) == b_url}
    assert 0 < len(b_members) < MEMBERS, "both nodes have domains"
    # the web runs under gunicorn with two workers
    workers = [c for c in descendants(p.procs["web"].pid).values() if "gunicorn" in c]
    assert len(workers) == 2, workers

    # posts go in alternately through both smtpd while B's copies start to arrive
    posts: list[str] = []
    poster = threading.Thread(target=lambda: posts.extend(
        _post(t.smtpd_ports[n % 2], tag, n) for n in range(POSTS_BEFORE)), daemon=True)
    poster.start()
    # kill -9 node B once the sink has some, not all, of its copies
    want_b = len(b_members) * POSTS_BEFORE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got_b = sum(n for (_, r), n in _copies(p, tag).items() if r in b_members)
        if got_b >= 20:
            break
        time.sleep(0.01)
    t.kill9("karl-b")
    got_b_at_kill = sum(n for (_, r), n in _copies(p, tag).items() if r in b_members)
    poster.join(60)
    assert len(posts) == POSTS_BEFORE, "every post was accepted (250) by smtpd"
    assert 0 < got_b_at_kill < want_b, f"not mid fan-out: {got_b_at_kill} of {want_b}"
    # posts while B is down: all their copies go through A
    posts += [_post(t.smtpd_ports[n % 2], tag, n)
              for n in range(POSTS_BEFORE, POSTS_BEFORE + POSTS_DURING)]
    later = [f"{GROUP} #{n}" for n in range(POSTS_BEFORE + 1, POSTS_BEFORE + POSTS_DURING + 1)]
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        copies = _copies(p, tag)
        if all(copies[(posts[n], m)] for n in range(POSTS_BEFORE, len(posts))
               for m in members):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the posts sent while node B was down were not all delivered")
    # the posts' jobs (a post's "fanout" row builds them and goes to no node itself)
    rows = query(p, "select description, karl_node, state from groups_outboxitem "
                    "where kind <> 'fanout'")
    during = {(node, state) for desc, node, state in rows
              if any(desc == d or desc.startswith(d + " (") for d in later)}
    assert during == {(t.karl_url("a"), "done")}, during

    t.start_karl("b")  # on its own spool: it delivers what it had taken
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copies = _copies(p, tag)
        if all(copies[(mid, m)] for mid in posts for m in members):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # a late repeat would have arrived by now
    copies = _copies(p, tag)
    missing = [(mid, m) for mid in posts for m in members if not copies[(mid, m)]]
    assert missing == [], f"{len(missing)} copies never delivered, e.g. {missing[:5]}"
    repeats = {k: n - 1 for k, n in copies.items() if n > 1}
    assert sum(repeats.values()) <= KARL_WINDOW, repeats
    assert all(r in b_members for (_, r) in repeats), "only B's copies in flight may repeat"
    assert not [k for k in copies if k[1] not in members]

    # a post is found by the website's search (gunicorn, OpenSearch, indexed by Celery)
    deadline = time.monotonic() + 30
    while True:
        page = httpx.get(p.url("web", "/search/"), params={"q": f"zanzibar{tag}"}, timeout=10)
        if page.status_code == 200 and f"topology {tag} post" in page.text:
            break
        assert time.monotonic() < deadline, page.text[-2000:]
        time.sleep(0.5)
    states = p.manage("outbox", "--nodes").stdout
    assert states.count("healthy") == 2, states
    for name in ("messageserver", "karl-a", "karl-b", "smtpd-1", "smtpd-2", "web", "scheduler"):
        assert alive(p.procs[name].pid), f"{name} died:\n{t.log(name)}"
    outcomes.add("fault", f"kill -9 of one of two Karl nodes mid fan-out ({len(posts)} posts "
                          f"x {MEMBERS} members, PostgreSQL, Redis, OpenSearch, 2 smtpd, "
                          "gunicorn)",
                 f"all delivered; {sum(repeats.values())} repeated (allowed {KARL_WINDOW}); "
                 f"{time.monotonic() - started:.0f} s")
