"""Run the real platform for a test: each process a real subprocess on free ports.

``Platform`` prepares a fresh DATA_DIR (and, when DATABASE_URL points at
PostgreSQL, a fresh database of its own), runs the same management commands a
user runs, starts web, smtpd, messageserver, karl and errord as `make run`
would, and can kill -9 or restart any one of them. The scheduler (Celery beat
and a worker, the command runplatform supervises) starts only when a test asks
for it by name: ``p.start("scheduler")``. A real aiosmtpd server stands in for
the outside world as Karl's relay and records what it receives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from tests.conftest import free_port

PROJECT = Path(__file__).resolve().parents[2]
SERVICES = {
    "web": ["-m", "groups.webserver"],
    "smtpd": ["-m", "smtpd"],
    "messageserver": ["-m", "messageserver"],
    "karl": ["-m", "karl"],
    "errord": ["-m", "errord"],
}
# Started only by name (``p.start("scheduler")``): most tests need no Celery worker.
OPTIONAL = {
    "scheduler": ["-m", "cronjobs.scheduler"],
}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class SinkHandler:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.reply = "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if not self.reply.startswith("250"):
            return self.reply
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"expected {count} messages at the sink, got "
                                 f"{len(self.messages)} in {timeout}s")

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


@dataclass
class Platform:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    sink: SinkHandler = field(default_factory=SinkHandler)
    sink_controller: Controller | None = None
    pg_db: str = ""

    def prepare(self) -> Platform:
        self.sink_controller = Controller(self.sink, hostname="127.0.0.1", port=free_port())
        self.sink_controller.start()
        for name in ("web", "smtpd", "messageserver", "karl", "errord", "smtpd_http"):
            self.ports[name] = free_port()
        data_dir = self.root / "data"
        env = {k: v for k, v in os.environ.items()
               if k not in ("DJANGO_SETTINGS_MODULE", "GROUPS_URLCONF")}
        env.update({
            "DATA_DIR": str(data_dir),
            "GROUPS_DOMAIN": "groups.localhost",
            "WEB_PORT": str(self.ports["web"]),
            "SMTPD_PORT": str(self.ports["smtpd"]),
            "SMTPD_HTTP_PORT": str(self.ports["smtpd_http"]),
            "MESSAGESERVER_PORT": str(self.ports["messageserver"]),
            "KARL_PORT": str(self.ports["karl"]),
            "ERRORD_PORT": str(self.ports["errord"]),
            "SITE_URL": f"http://127.0.0.1:{self.ports['web']}",
            "KARL_RELAYS": f"smtp://127.0.0.1:{self.sink_controller.port}",
            "INTERNAL_API_TOKEN": "e2e-" + uuid.uuid4().hex,
            "SECRET_KEY": "e2e-" + uuid.uuid4().hex * 2,
            "PYTHONUNBUFFERED": "1",
        })
        db_url = os.environ.get("DATABASE_URL", "")
        if db_url.startswith(("postgres://", "postgresql://")):
            import psycopg

            base, _, _name = db_url.rpartition("/")
            self.pg_db = "groups_e2e_" + uuid.uuid4().hex[:10]
            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_db}"')
            env["DATABASE_URL"] = f"{base}/{self.pg_db}"
        else:
            env.pop("DATABASE_URL", None)
        self.env = env
        self.manage("migrate", "--verbosity", "0")
        return self

    @property
    def token(self) -> str:
        return self.env["INTERNAL_API_TOKEN"]

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def manage(self, *args: str, check: bool = True, input: str | None = None
               ) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=self.env,
                                capture_output=True, text=True, input=input, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n"
                                 f"{result.stderr}")
        return result

    def start(self, *names: str) -> None:
        log_sizes = {}
        for name in names or SERVICES:
            path = self.root / f"{name}.log"
            log_sizes[name] = path.stat().st_size if path.exists() else 0
            log = open(path, "ab")
            self.procs[name] = subprocess.Popen(
                [sys.executable, *{**SERVICES, **OPTIONAL}[name]], cwd=PROJECT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for name in names or SERVICES:
            self.wait_ready(name, log_from=log_sizes[name])

    def wait_ready(self, name: str, timeout: float = 30.0, log_from: int = 0) -> None:
        deadline = time.monotonic() + timeout
        path = "/" if name == "web" else "/health"
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
            if name in OPTIONAL:  # a Celery worker has no port: it says "ready" in its log
                with open(self.root / f"{name}.log", "rb") as fh:
                    fh.seek(log_from)
                    if b" ready." in fh.read():
                        return
            elif name == "smtpd":
                import socket

                try:
                    with socket.create_connection(("127.0.0.1", self.ports[name]), timeout=1):
                        return
                except OSError:
                    pass
            else:
                try:
                    if httpx.get(self.url(name, path), timeout=2).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"{name} not ready in {timeout}s:\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in list(self.procs.values()):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        if self.sink_controller:
            self.sink_controller.stop()
        if self.pg_db:
            import psycopg

            base = os.environ["DATABASE_URL"].rpartition("/")[0]
            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
