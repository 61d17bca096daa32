"""Shared pieces of the reliability suite: platforms shared per module, and the outcome table.

Every fault or attack a test tries is recorded with ``outcomes.add(what, outcome)``;
a test that fails is recorded as FAILED whatever it had recorded, so the table
never shows an attack as handled when its test did not pass. The table is
printed once, at the end of the run, by the tests.outcometable plugin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import platform  # noqa: F401  (the same real-platform fixture)
from tests.e2e.platform import OPTIONAL, SERVICES, Platform
from tests.outcometable import TABLE, OutcomeTable


@pytest.fixture
def outcomes(request: pytest.FixtureRequest) -> OutcomeTable:
    """The session's table: ``outcomes.add(area, what was tried, what happened)``."""
    return TABLE


AREAS = {"test_internal_apis": "internal API", "test_faults": "fault",
         "test_database_down": "fault", "test_celery_faults": "fault",
         "test_mime_corpus": "odd MIME", "test_web_attacks": "web",
         "test_smtp_abuse": "SMTP abuse"}


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    """Failures (and known bugs) go in the table; so do passing tests that record nothing."""
    if call.when != "call" or item.path.parent != Path(__file__).parent:
        return
    module = item.module.__name__.rsplit(".", 1)[-1]
    area = AREAS.get(module, module)
    if call.excinfo is None:
        if "outcomes" not in item.fixturenames:
            TABLE.add(area, item.name.removeprefix("test_").replace("_", " "), "passed")
        return
    text = str(call.excinfo.value).strip()
    message = text.splitlines()[0][:90] if text else call.excinfo.typename
    xfail = item.get_closest_marker("xfail")
    if xfail is not None:
        message = f"KNOWN BUG (xfail): {xfail.kwargs.get('reason', message)}"
    elif call.excinfo.errisinstance(pytest.skip.Exception):
        message = f"skipped: {message}"
    else:
        message = f"FAILED: {message}"
    TABLE.add(area, item.name, message)


@contextlib.contextmanager
def shared_platform(root: Path, **env: str) -> Iterator[Platform]:
    """A platform for a whole module, with extra environment; its logs are shown at the end."""
    p = Platform(root)
    p.prepare()
    p.env.update(env)
    try:
        yield p
    finally:
        p.stop()
        for name in {**SERVICES, **OPTIONAL}:
            log = p.log(name)
            if "Traceback" in log:
                print(f"--- {name} log (has a traceback) ---\n{log[-3000:]}")


def alive(p: Platform) -> list[str]:
    """The names of the started processes that have died (empty when all are alive)."""
    return [name for name, proc in p.procs.items() if proc.poll() is not None]


def error_groups(p: Platform) -> list[dict]:
    """errord's error groups (each a distinct crash or logged error of some process)."""
    r = httpx.get(p.url("errord", "/v1/errors"), params={"limit": 1000},
                  headers={"Authorization": f"Bearer {p.token}"}, timeout=10)
    r.raise_for_status()
    body = r.json()
    return body.get("groups", body) if isinstance(body, dict) else body


def query(p: Platform, sql: str) -> list[tuple]:
    """Rows of a read-only SQL query on the platform's own database (SQLite or PostgreSQL)."""
    if p.pg_db:
        import psycopg

        with psycopg.connect(p.env["DATABASE_URL"]) as conn:
            return conn.execute(sql).fetchall()
    import sqlite3

    db = sqlite3.connect(f"file:{p.root / 'data' / 'groups.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def execute(p: Platform, sql: str) -> None:
    """One write to the platform's database (only to stand in for time passing)."""
    if p.pg_db:
        import psycopg

        with psycopg.connect(p.env["DATABASE_URL"]) as conn:
            conn.execute(sql)
        return
    import sqlite3

    db = sqlite3.connect(p.root / "data" / "groups.sqlite3", timeout=30)
    try:
        with db:
            db.execute(sql)
    finally:
        db.close()
