"""A real errord process on a free loopback port, and helpers to start more.

Tests talk to it over real HTTP with the real client; each test uses its own
service name so tests sharing one errord do not see each other's groups.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from errord.client import ErrordClient
from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "errord-test-token"


class ErrordProcess:
    """``python -m errord`` on ``port``, storing in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None, token: str = TOKEN):
        self.data_dir = data_dir
        self.token = token
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "DATA_DIR": str(self.data_dir), "INTERNAL_API_TOKEN": self.token,
                "ERRORD_URL": self.url, "PYTHONPATH": str(PROJECT)}

    def start(self) -> ErrordProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "errord", "--port", str(self.port)], cwd=PROJECT,
            env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"errord exited: {self.proc.stdout.read().decode()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("errord did not answer /health within 15s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def client(self) -> ErrordClient:
        return ErrordClient(self.url, self.token)


@pytest.fixture(scope="module")
def errord(tmp_path_factory):
    proc = ErrordProcess(tmp_path_factory.mktemp("errord")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(errord):
    with errord.client() as c:
        yield c


@pytest.fixture
def service() -> str:
    """A service name no other test uses."""
    return f"svc-{uuid.uuid4().hex[:8]}"


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return it (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {predicate}")
        time.sleep(interval)
