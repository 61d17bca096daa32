"""Run the real platform for a test: each process a real subprocess on free ports.

``Platform`` prepares a fresh DATA_DIR (and, when DATABASE_URL points at
PostgreSQL, a fresh database of its own), runs the same management commands a
user runs, starts web, smtpd, messageserver, karl and errord as `make run`
would, and can kill -9 or restart any one of them.

The fresh database is a copy of one that ``manage.py migrate`` built once per test
process (``MigratedTemplate``): migrating costs a Django start-up plus every migration
(several CPU seconds), and the suite prepares dozens of platforms, each of which got
exactly the same schema. A copy is byte for byte what that migrate left; a test about
migrating runs ``p.manage("migrate")`` itself. The scheduler (Celery beat
and a worker, the command runplatform supervises) starts only when a test asks
for it by name: ``p.start("scheduler")``. A real aiosmtpd server stands in for
the outside world as Karl's relay and records what it receives.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
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


class MigratedTemplate:
    """One migrated database per test process and database server, copied for each platform.

    SQLite: a migrated file in a private directory, copied with SQLite's backup API
    (consistent whatever the journal mode). PostgreSQL: a migrated database that each
    platform's database is created from (``CREATE DATABASE ... TEMPLATE``); the
    templates are dropped when the test process exits.
    """

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._postgres: dict[str, str] = {}  # server URL (without the database) -> template
        atexit.register(self.drop)

    @staticmethod
    def _migrate(env: dict[str, str]) -> None:
        result = subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"],
                                cwd=PROJECT, env=env, capture_output=True, text=True,
                                timeout=300)
        if result.returncode != 0:
            raise AssertionError(f"manage.py migrate failed:\n{result.stdout}\n{result.stderr}")

    def copy_sqlite(self, env: dict[str, str], target: Path) -> None:
        """Put a migrated SQLite database at ``target``."""
        if self._sqlite is None:
            data_dir = Path(tempfile.mkdtemp(prefix="groups-migrated-"))
            sqlite_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
            self._migrate({**sqlite_env, "DATA_DIR": str(data_dir)})
            self._sqlite = data_dir / "groups.sqlite3"
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"file:{self._sqlite}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()

    def create_postgres(self, env: dict[str, str], base: str, name: str) -> None:
        """Create database ``name`` on the server at ``base``, migrated."""
        import psycopg

        template = self._postgres.get(base)
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            if template is None:
                template = "groups_e2e_migrated_" + uuid.uuid4().hex[:10]
                conn.execute(f'CREATE DATABASE "{template}"')
                data_dir = tempfile.mkdtemp(prefix="groups-migrated-")
                try:
                    self._migrate({**env, "DATABASE_URL": f"{base}/{template}",
                                   "DATA_DIR": data_dir})
                except BaseException:
                    conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                    raise
                finally:
                    shutil.rmtree(data_dir, ignore_errors=True)
                self._postgres[base] = template
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop(self) -> None:
        if self._sqlite is not None:
            shutil.rmtree(self._sqlite.parent, ignore_errors=True)
        for base, template in self._postgres.items():
            try:
                import psycopg

                with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001  (at exit: say so, never mask the run)
                print(f"could not drop the template database {template}: {exc}")


MIGRATED = MigratedTemplate()


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
        data_dir.mkdir(parents=True, exist_ok=True)
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
            base, _, _name = db_url.rpartition("/")
            self.pg_db = "groups_e2e_" + uuid.uuid4().hex[:10]
            MIGRATED.create_postgres(env, base, self.pg_db)
            env["DATABASE_URL"] = f"{base}/{self.pg_db}"
        else:
            env.pop("DATABASE_URL", None)
            MIGRATED.copy_sqlite(env, data_dir / "groups.sqlite3")
        self.env = env
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
