"""Running a benchmark once per database, each in a fresh child process.

A child gets a fresh DATA_DIR and either a new SQLite file or a freshly made PostgreSQL
database (skipped with a note when the server is unreachable), with no Redis or search
engine, so each database is measured on its own with the same code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgres")


def pg_database(url: str) -> str:
    """A fresh bench database; the problem as text, if any."""
    try:
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return ""
    except Exception as exc:
        return str(exc)


def run_each(script: str, backends: str, pg_url: str, child_args: list[str], *,
             prefix: str, extra_env: dict[str, str] | None = None) -> int:
    """Run ``script --one BACKEND *child_args`` per backend; 1 if any child failed.

    ValueError names an unknown backend.
    """
    failed = 0
    for vendor in [b.strip() for b in backends.split(",") if b.strip()]:
        if vendor not in BACKENDS:
            raise ValueError(f"unknown backend {vendor!r} (sqlite, postgres)")
        tmp = tempfile.mkdtemp(prefix=prefix)
        env = dict(os.environ, DATA_DIR=tmp, DJANGO_SETTINGS_MODULE="groups.settings",
                   PYTHONPATH=str(ROOT), **(extra_env or {}))
        for name in ("ELASTICSEARCH_URL", "REDIS_URL"):
            env.pop(name, None)
        if vendor == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        else:
            problem = pg_database(pg_url)
            if problem:
                print(f"[postgres] skipped: {pg_url} unreachable ({problem.strip()})")
                shutil.rmtree(tmp, ignore_errors=True)
                continue
            env["DATABASE_URL"] = pg_url
        start = time.monotonic()
        code = subprocess.call([sys.executable, script, "--one", vendor, *child_args],
                               env=env, cwd=ROOT)
        print(f"[{vendor}] wall time {time.monotonic() - start:.0f}s (exit {code})", flush=True)
        failed += code != 0
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0
