"""Run every process of the platform in the foreground, as `make run` does.

Each child's output is prefixed with its name; a child that dies is reported
(to the log, and so to errord) and restarted with a growing delay (platformcore.backoff;
a child that failed because its port is taken waits longer: another platform
is probably running); SIGINT or SIGTERM stops them all, politely first
(SIGTERM), then SIGKILL after a grace period. The supervisor itself holds no
state worth keeping.

One tree: the children stay in the supervisor's process group (an operator's
``kill -9 -PGID`` stops everything) and each is tied to the supervisor with the
parent-death signal (platformcore.proctree), so a supervisor killed with -9 takes
its children with it, and they take theirs (Karl's workers, Celery's beat).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from platformcore import backoff, proctree

log = logging.getLogger("supervisor")
COLORS = ["36", "32", "35", "33", "34", "31", "96"]
RESTART_BASE, RESTART_CAP = 0.5, 30.0  # seconds: a crashing child
PORT_TAKEN_BASE, PORT_TAKEN_CAP = 5.0, 120.0  # seconds: a child whose port is taken
PORT_TAKEN = ("address already in use", "errno 98")


@dataclass
class Child:
    name: str
    argv: list[str]
    color: str = "0"
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    port_taken: bool = False  # its output said "address already in use"
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    def __init__(self, specs: list[tuple[str, list[str]]], cwd: str, grace: float = 10.0,
                 env: dict[str, str] | None = None):
        self.children = [Child(n, a, COLORS[i % len(COLORS)]) for i, (n, a) in enumerate(specs)]
        self.cwd = cwd
        self.grace = grace
        self.env = env or dict(os.environ)
        self.stopping = threading.Event()
        self.width = max(len(n) for n, _ in specs)
        self.tty = sys.stdout.isatty()
        self._print_lock = threading.Lock()

    def _emit(self, child: Child, line: str) -> None:
        prefix = f"{child.name:<{self.width}} |"
        if self.tty:
            prefix = f"\033[{child.color}m{prefix}\033[0m"
        with self._print_lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()

    def _pump(self, child: Child, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if any(p in line.lower() for p in PORT_TAKEN):
                child.port_taken = True
            self._emit(child, line)
        stream.close()

    def start(self, child: Child) -> None:
        # Same process group as the supervisor; killed by the kernel if the supervisor
        # dies. Popen is called from the main thread only (the parent-death signal
        # follows the thread that forked). Ctrl-C reaches the supervisor alone:
        # it stops the children with SIGTERM.
        child.port_taken = False
        child.proc = subprocess.Popen(
            child.argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=proctree.preexec(os.getpid(), ignore_interrupt=True),
        )
        child.started_at = time.monotonic()
        reader = threading.Thread(target=self._pump, args=(child, child.proc.stdout), daemon=True)
        reader.start()
        child.readers = [reader]
        self._emit(child, f"started (pid {child.proc.pid})")

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, f: self.stopping.set())
        for child in self.children:
            self.start(child)
        while not self.stopping.wait(0.5):
            now = time.monotonic()
            for child in self.children:
                if child.proc is None:
                    if now >= child.next_start:
                        self.start(child)
                    continue
                code = child.proc.poll()
                if code is None:
                    continue
                uptime = now - child.started_at
                if uptime > 60:
                    child.restarts = 0
                child.restarts += 1
                for reader in child.readers:  # its last words (a port taken?) are in
                    reader.join(timeout=1)
                delay = self.restart_delay(child)
                why = " (its port is taken: is another platform running?)" \
                    if child.port_taken else ""
                log.error("%s exited with code %s after %.1fs; restarting in %.1fs%s",
                          child.name, code, uptime, delay, why)
                self._emit(child, f"exited with code {code}; restarting in {delay:.1f}s{why}")
                child.proc = None
                child.next_start = now + delay
        self.stop_all()
        return 0

    @staticmethod
    def restart_delay(child: Child) -> float:
        """How long to wait before starting ``child`` again after ``child.restarts`` failures."""
        if child.port_taken:
            return backoff.delay(child.restarts, PORT_TAKEN_BASE, PORT_TAKEN_CAP)
        return backoff.delay(child.restarts, RESTART_BASE, RESTART_CAP)

    def stop_all(self) -> None:
        running = [c for c in self.children if c.proc and c.proc.poll() is None]
        for child in running:
            self._emit(child, "stopping")
            child.proc.send_signal(signal.SIGTERM)  # its own children die with it
        deadline = time.monotonic() + self.grace
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._emit(child, "did not stop in time: killed")
                child.proc.kill()
                child.proc.wait()
        for child in self.children:
            for reader in child.readers:
                reader.join(timeout=1)
