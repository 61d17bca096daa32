"""A redis-server of the test's own, on a free port, that the test may stop and start again.

The shared Redis on 6379 is never stopped (others use it). This one keeps
nothing on disk (``--save '' --appendonly no``), as a cache-and-broker Redis
often runs: stopping it loses whatever it held, which is the harder case.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, in_ci


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        log = open(self.workdir / f"redis-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server on {self.port} did not start in {timeout}s")

    def kill(self) -> None:
        """SIGKILL: what it held is gone (nothing is saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A running redis-server; missing binary is a skip, except in CI where it fails."""
    if shutil.which("redis-server") is None:
        if in_ci():
            pytest.fail("redis-server is not installed, and CI requires it")
        pytest.skip("redis-server is not installed")
    server = RedisServer(workdir).start()
    try:
        yield server
    finally:
        server.kill()
