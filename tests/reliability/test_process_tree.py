"""The platform as one tree under `manage.py runplatform`, killed with -9 in a stream of posts.

One real platform (the supervisor and every process it starts, the scheduler
included) for the module. Each test kills something with SIGKILL while senders
post steadily, then proves that:
  * no process of the old generation is alive (read from /proc: what
    descended from the killed process, and anything whose environment names
    this test's DATA_DIR, apart from the new generation);
  * every accepted post reached every member;
  * repeats stay within what was in flight: Karl's window when Karl dies,
    none at all when messageserver dies (the outbox row is submitted again
    with the same Idempotency-Key and Karl answers with the job it has).
A second runplatform and a second Karl on the same data refuse to start,
naming the running one.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.platform import PROJECT, Platform
from tests.karl.test_once import alive, descendants
from tests.reliability.conftest import shared_platform
from tests.reliability.stream import Stream, check_nothing_lost, make_group

pytestmark = pytest.mark.e2e

KARL_WINDOW = 4  # KARL_CONCURRENCY and KARL_BATCH_SIZE: recipients in flight at most
SERVICES = ("web", "smtpd", "messageserver", "karl", "errord", "scheduler")


class Generation:
    """One `manage.py runplatform` and what it started, found by the pids it prints."""

    def __init__(self, p: Platform, n: int) -> None:
        self.p = p
        self.log_path = p.root / f"runplatform-{n}.log"
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runplatform", "--no-seed"], cwd=PROJECT,
            env=p.env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for name in SERVICES:
                self.wait_ready(name)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid(self, name: str) -> int | None:
        found = re.findall(rf"^{name}\s+\| started \(pid (\d+)\)$", self.log(), re.M)
        return int(found[-1]) if found else None

    def wait_ready(self, name: str, after_pid: int | None = None, timeout: float = 60) -> int:
        """Wait until ``name`` (a new pid, when ``after_pid`` is given) serves; its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"runplatform exited:\n{self.log()[-3000:]}"
            pid = self.pid(name)
            if pid and pid != after_pid and alive(pid) and self._serves(name, pid):
                return pid
            time.sleep(0.2)
        raise AssertionError(f"{name} not ready in {timeout}s:\n{self.log()[-3000:]}")

    def _serves(self, name: str, pid: int) -> bool:
        if name == "scheduler":  # no port: its worker says "ready" and beat is forked
            text = self.log()
            start = text.rfind(f"started (pid {pid})")
            return " ready." in text[start:] and bool(descendants(pid))
        if name == "smtpd":
            try:
                with socket.create_connection(("127.0.0.1", self.p.ports["smtpd"]), timeout=1):
                    return True
            except OSError:
                return False
        try:
            path = "/" if name == "web" else "/health"
            return httpx.get(self.p.url(name, path), timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def tree(self) -> dict[int, str]:
        return {self.proc.pid: "runplatform", **descendants(self.proc.pid)}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log_file.close()


def ours(p: Platform) -> set[int]:
    """Every process whose environment names this test's DATA_DIR (this one excepted)."""
    marker = f"DATA_DIR={p.env['DATA_DIR']}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in env and alive(int(entry)):
                found.add(int(entry))
    return found


def all_gone(pids: dict[int, str] | set[int], timeout: float = 15) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return {pid: (pids[pid] if isinstance(pids, dict) else "") for pid in pids if alive(pid)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Iterator[dict]:
    with shared_platform(tmp_path_factory.mktemp("tree"), KARL_WORKERS="2",
                         KARL_CONCURRENCY=str(KARL_WINDOW),
                         KARL_BATCH_SIZE=str(KARL_WINDOW)) as p:
        make_group(p)
        state: dict = {"p": p, "n": 1}
        try:
            state["gen"] = Generation(p, 1)
            yield state
        finally:
            if "gen" in state:
                state["gen"].stop()
            for pid in ours(p):  # never leave a stray behind, even when a test failed
                os.kill(pid, signal.SIGKILL)


def test_a_second_runplatform_and_a_second_karl_refuse_to_start(tree, outcomes):
    p, gen = tree["p"], tree["gen"]
    second = subprocess.run([sys.executable, "manage.py", "runplatform", "--no-seed"],
                            cwd=PROJECT, env=p.env, capture_output=True, text=True, timeout=120)
    assert second.returncode != 0
    assert f"another runplatform is already running on this data (pid {gen.proc.pid}" \
        in second.stderr, second.stderr
    assert "started (pid" not in second.stdout  # it started nothing
    karl = subprocess.run([sys.executable, "-m", "karl", "--port", "1"], cwd=PROJECT,
                          env=p.env, capture_output=True, text=True, timeout=60)
    assert karl.returncode == 3
    assert f"another Karl is already running on this data (pid {gen.pid('karl')}" in karl.stderr
    for name in SERVICES:  # the first generation is untouched
        assert gen.pid(name) and alive(gen.pid(name))
    outcomes.add("fault", "a second runplatform / a second Karl on the same data",
                 "both refuse at once, naming the running pid; nothing else started")


@pytest.mark.parametrize("name", ["web", "errord", "scheduler", "smtpd", "messageserver",
                                  "karl"])
def test_kill_9_of_one_process_takes_its_children_and_loses_nothing(tree, outcomes, name):
    p, gen = tree["p"], tree["gen"]
    pid = gen.pid(name)
    old = {pid: name, **descendants(pid)}
    if name == "karl":  # two delivery workers and multiprocessing's resource tracker
        assert len(old) >= 4 and any("resource_tracker" in c for c in old.values()), old
    if name == "scheduler":  # Celery's embedded beat
        assert len(old) >= 2, old
    stream = Stream(p.ports["smtpd"]).start()
    time.sleep(0.8)
    os.kill(pid, signal.SIGKILL)
    left = all_gone(old)
    assert left == {}, f"left running after kill -9 of {name}: {left}"
    gen.wait_ready(name, after_pid=pid)
    stream.join()
    slack = KARL_WINDOW if name == "karl" else 0
    figures = check_nothing_lost(p, stream, delivery_slack=slack)
    outcomes.add("fault", f"kill -9 {name} under runplatform, {stream.total} posts",
                 f"{len(old) - 1} children went with it; all delivered, "
                 f"{figures['repeated']} repeated (allowed {slack})")


def test_kill_9_of_the_supervisor_alone_takes_the_whole_tree(tree, outcomes):
    p, gen = tree["p"], tree["gen"]
    old = gen.tree()
    assert len(old) >= 10, old  # six services, two Karl workers, the tracker, beat
    os.kill(gen.proc.pid, signal.SIGKILL)
    assert all_gone(old) == {}
    assert ours(p) == set()
    gen.stop()
    tree["n"] += 1
    tree["gen"] = Generation(p, tree["n"])  # the lock died with its holder
    outcomes.add("fault", "kill -9 of runplatform alone",
                 f"all {len(old)} processes died with it (parent-death signal); restart works")


def test_kill_9_of_the_process_group_in_a_stream_then_a_restart_loses_nothing(tree, outcomes):
    p, gen = tree["p"], tree["gen"]
    stream = Stream(p.ports["smtpd"]).start()
    time.sleep(1.0)
    old = gen.tree()
    os.killpg(gen.proc.pid, signal.SIGKILL)  # an operator's kill -9 -PGID
    assert all_gone(old) == {}
    assert ours(p) == set(), "a process of the old generation is still running"
    gen.stop()
    tree["n"] += 1
    tree["gen"] = Generation(p, tree["n"])
    stream.join()
    figures = check_nothing_lost(p, stream, delivery_slack=KARL_WINDOW)
    outcomes.add("fault", f"kill -9 -PGID of the platform in a stream of {stream.total} posts",
                 f"nothing left running; after restart all delivered, {figures['retries']} "
                 f"sender retries, {figures['repeated']} repeated (allowed {KARL_WINDOW})")


def test_a_normal_stop_leaves_nothing_running(tree, outcomes):
    p, gen = tree["p"], tree["gen"]
    old = gen.tree()
    gen.stop()  # SIGTERM to the group, as Ctrl-C or a service manager does
    assert all_gone(old) == {}
    assert ours(p) == set()
    outcomes.add("fault", "SIGTERM to the platform's group", f"all {len(old)} processes stopped")
