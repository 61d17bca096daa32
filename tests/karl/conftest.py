"""Real parts for Karl's tests: an aiosmtpd relay, a messageserver stand-in, Karl itself.

``Sink`` is a real SMTP server on a loopback port whose replies a test can
script (451 a few times, then 250; 550 for one address). ``EventReceiver`` is
a small real aiohttp server taking POST /v1/delivery-events. ``KarlProcess``
runs ``python -m karl`` as a subprocess, as production does, so kill -9 is a
real kill.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from karl.dkimkeys import dns_record, ensure_key
from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]
MAIL = Path(__file__).parent / "mail"
TOKEN = "karl-test-token"
DOMAIN = "groups.localhost"


def karl_mail(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def dnsfunc_for(key_path: Path, selector: str = "groups", domain: str = DOMAIN
                ) -> Callable[..., bytes | None]:
    """dkimpy's DNS lookup, answering with exactly what dkimkeys.dns_record publishes."""
    name, txt = dns_record(key_path, selector, domain)

    def dnsfunc(qname: bytes | str, timeout: int = 5) -> bytes | None:  # noqa: ARG001
        q = qname.decode() if isinstance(qname, bytes) else qname
        return txt.encode() if q.rstrip(".") == name else None

    return dnsfunc


@dataclass
class Received:
    mail_from: str
    rcpt: str
    data: bytes
    options: list[str] = field(default_factory=list)  # the MAIL FROM parameters


class SinkHandler:
    """Keeps what it is given; ``policy(rcpt, attempt)`` may return a refusal to script faults."""

    def __init__(self, pipelining: bool = True) -> None:
        self.messages: list[Received] = []
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.policy: Callable[[str, int], str | None] = lambda rcpt, n: None
        self.pipelining = pipelining
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        with self.lock:
            n = self.attempts[address] = self.attempts.get(address, 0) + 1
        refusal = self.policy(address, n)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append(Received(envelope.mail_from, rcpt,
                                              envelope.original_content or envelope.content,
                                              list(envelope.mail_options)))
        return "250 2.0.0 queued"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages at the sink, got "
                             f"{len(self.received())} in {timeout}s")


@dataclass
class Sink:
    handler: SinkHandler
    controller: Controller
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def start_sink(port: int | None = None, pipelining: bool = True,
               smtputf8: bool = False) -> Sink:
    """A real aiosmtpd relay; ``smtputf8`` makes it offer SMTPUTF8 (RFC 6531)."""
    handler = SinkHandler(pipelining)
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            data_size_limit=50 * 1024 * 1024, enable_SMTPUTF8=smtputf8)
    controller.start()
    return Sink(handler, controller, port)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = start_sink()
    yield s
    s.controller.stop()


class EventReceiver:
    """messageserver's POST /v1/delivery-events, for real, on a loopback port."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.refuse = 0  # answer 503 to this many posts first
        self.port = free_port()
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "token"}, status=401)
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return web.json_response({"error": "busy"}, status=503)
            self.events.extend((await request.json())["events"])
        return web.json_response({"ok": True})

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/delivery-events", self._handle)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.events):
                    return list(self.events)
            time.sleep(0.05)
        raise AssertionError(f"events never matched; got {self.events}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    r = EventReceiver()
    yield r
    r.stop()


_KEY_DIR = Path(tempfile.mkdtemp(prefix="karl-test-key-"))


def _shared_key() -> Path:
    return ensure_key(_KEY_DIR / "groups.pem")


@dataclass
class KarlProcess:
    data_dir: Path
    relays: str
    events_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "dkim" / f"{DOMAIN}.groups.pem"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KARL_")}
        env.update({"DATA_DIR": str(self.data_dir), "GROUPS_DOMAIN": DOMAIN,
                    "KARL_PORT": str(self.port), "KARL_RELAYS": self.relays,
                    "INTERNAL_API_TOKEN": TOKEN, "MESSAGESERVER_URL": self.events_url,
                    "KARL_WORKERS": "0", "KARL_RETRY_BASE": "0.3", "KARL_PROBE_INTERVAL": "0.5",
                    "PYTHONUNBUFFERED": "1", "ERRORD_URL": "http://127.0.0.1:9"})
        env.update(self.extra_env)
        return env

    def start(self) -> KarlProcess:
        if not self.key_path.exists():  # 2048-bit key generation is slow: share one
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(_shared_key(), self.key_path)
        self.log = open(self.data_dir / "karl.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "karl"], cwd=PROJECT, env=self.env(),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"karl exited: {self.logs()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code in (200, 503):
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"karl did not start: {self.logs()}")

    def logs(self) -> str:
        return (self.data_dir / "karl.log").read_text(errors="replace")[-4000:]

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def client(self):  # noqa: ANN201
        from karl.client import KarlClient

        return KarlClient(self.url, TOKEN)


@pytest.fixture
def karl_factory(tmp_path: Path, receiver: EventReceiver) -> Iterator[Callable[..., KarlProcess]]:
    started: list[KarlProcess] = []

    def make(relays: str, **extra_env: str) -> KarlProcess:
        data = tmp_path / f"karl{len(started)}"
        data.mkdir()
        k = KarlProcess(data, relays, receiver.url, extra_env).start()
        started.append(k)
        return k

    yield make
    for k in started:
        k.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[KarlProcess, Sink, EventReceiver]]:
    """One Karl, relay and receiver for a module's tests that need no fresh state.

    Those tests use addresses of their own, so they can share.
    """
    sink, receiver = start_sink(), EventReceiver()
    data = Path(tempfile.mkdtemp(prefix="karl-shared-"))
    karl = KarlProcess(data, sink.url, receiver.url, {"KARL_MAX_JOB_BYTES": "65536"}).start()
    yield karl, sink, receiver
    karl.stop()
    sink.controller.stop()
    receiver.stop()
    shutil.rmtree(data, ignore_errors=True)
