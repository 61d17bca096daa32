"""The website under gunicorn with two workers, as deploy/ and the Dockerfile run it.

A real gunicorn master with its config module (groups/gunicorn_conf.py) on a
free port against a fresh DATA_DIR: the home page and /health answer, and the
master really has two worker processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.platform import PROJECT, Platform

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def test_web_under_gunicorn_with_two_workers(tmp_path):
    p = Platform(tmp_path).prepare()  # fresh DATA_DIR, migrated; SITE_URL is 127.0.0.1:PORT
    p.manage("seeddemo")
    env = {**p.env, "WEB_WORKERS": "2"}
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:groups.gunicorn_conf",
         "groups.wsgi:application"],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = p.url("web")
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                home = httpx.get(base + "/", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
        assert home.status_code == 200, home.text[:500]
        assert "demo" in home.text  # the seeded group is listed: the database is the test's
        health = httpx.get(base + "/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        assert len(children(proc.pid)) == 2
        with httpx.Client(timeout=5) as client:  # several requests are served by the pool
            assert all(client.get(base + "/health").status_code == 200 for _ in range(10))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        p.stop()
