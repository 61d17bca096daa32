"""The handler in real processes: uncaught exceptions, asyncio, fork, errord down.

Each process is a small script run with the real interpreter; errord is the
real server. "Within a second" is measured from the moment the script has
logged (or exited), so these also check that sending happens in the background.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from errord.handler import ErrordHandler
from tests.conftest import free_port
from tests.errord.conftest import PROJECT, TOKEN, ErrordProcess, wait_for

SCRIPTS = Path(__file__).parent / "scripts"


def run_script(errord, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=PROJECT,
                          env=errord.env(), capture_output=True, text=True, timeout=30)


def test_an_uncaught_exception_is_listed_with_its_traceback(errord, client, service):
    result = run_script(errord, "crash_uncaught.py", service)
    assert result.returncode == 1
    assert "ValueError: invalid literal for int()" in result.stderr  # local output kept
    groups = wait_for(lambda: client.groups(service=service), timeout=1.0)
    assert len(groups) == 1
    crash = groups[0]
    assert crash["exc_type"] == "ValueError"
    assert crash["where"] == "tests/errord/scripts/crash_uncaught.py:parse_job"
    assert 'in parse_job\n    return int(raw)' in crash["traceback"]
    assert crash["message"].startswith("ValueError: invalid literal for int()")


def test_errors_in_an_asyncio_process_arrive_while_it_runs(errord, client, service):
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "asyncio_errors.py"), service],
                            cwd=PROJECT, env=errord.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "logged"
        groups = wait_for(lambda: len(g := client.groups(service=service)) == 2 and g,
                          timeout=1.0)
        assert proc.poll() is None  # still running: sent in the background
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        stderr = proc.stderr.read()
        proc.stderr.close()
    by_type = {g["exc_type"]: g for g in groups}
    logged = by_type["KeyError"]
    assert logged["message"] == "delivery to bob@example.org failed"
    assert logged["where"] == "tests/errord/scripts/asyncio_errors.py:deliver"
    assert "recipients[\"bob@example.org\"]" in logged["traceback"]
    lost = by_type["ConnectionResetError"]
    assert lost["message"].startswith("Task exception was never retrieved")
    assert "in forgotten" in lost["traceback"]
    # the local log still has both lines, each once
    assert stderr.count("delivery to bob@example.org failed") == 1
    assert stderr.count("Task exception was never retrieved") == 1


def test_a_forked_child_reports_with_its_own_sender(errord, client, service):
    result = run_script(errord, "fork_child.py", service)
    assert result.returncode == 0, result.stderr
    child_pid = int(re.search(r"child (\d+) exited 0", result.stdout)[1])
    groups = wait_for(lambda: len(g := client.groups(service=service)) == 2 and g, timeout=1.0)
    messages = sorted(g["message"] for g in groups)
    assert messages[0] == f"child {child_pid} after fork"
    assert messages[1].startswith("parent ")


@pytest.fixture
def test_logger(service):
    """A logger outside the hierarchy: only the handler under test sees its records."""
    logger = logging.Logger(f"errordtest.{service}")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_with_errord_down_logging_returns_at_once_and_drops_are_reported(
        tmp_path, service, test_logger):
    port = free_port()
    handler = ErrordHandler(service, f"http://127.0.0.1:{port}", TOKEN, timeout=0.5,
                            max_pause=0.2)
    total = 1500

    def log_all(logger: logging.Logger) -> float:
        started = time.perf_counter()
        for i in range(total):
            try:
                raise OSError(f"spool write {i} failed")
            except OSError:
                logger.exception("could not spool job %d", i)
        return time.perf_counter() - started

    # Reference measured in the same run: the same records formatted into memory.
    reference_logger = logging.Logger(f"errordtest.ref.{service}")
    reference_logger.addHandler(logging.StreamHandler(io.StringIO()))
    reference = log_all(reference_logger)
    test_logger.addHandler(handler)
    elapsed = log_all(test_logger)
    # Blocking on the dead errord would cost 1500 x 0.5 s; formatting costs about the reference.
    assert elapsed < 3 * reference + 0.5, (
        f"logging {total} errors took {elapsed:.2f}s with errord down "
        f"(in-memory reference {reference:.2f}s)")
    wait_for(lambda: handler.down_since is not None, timeout=5)
    started = time.perf_counter()
    handler.flush()  # errord down: flush must not wait either
    assert time.perf_counter() - started < 0.1

    proc = ErrordProcess(tmp_path, port=port).start()
    try:
        with proc.client() as client:
            def settled():
                groups = client.groups(service=service)
                drops = [g for g in groups if "errors dropped" in g["message"]]
                spooled = [g for g in groups if g["exc_type"] == "OSError"]
                return drops and spooled and handler.dropped == 0 and (drops[0], spooled[0])

            drop_group, spool_group = wait_for(settled, timeout=5)
            occurrences = client.group(drop_group["fingerprint"])["occurrences"]
            dropped = sum(o["context"]["dropped"] for o in occurrences)
            assert drop_group["message"].startswith(
                f"{occurrences[0]['context']['dropped']} errors dropped")
            assert dropped >= total - handler.capacity - handler.batch_size
            wait_for(lambda: client.group(spool_group["fingerprint"])["count"] + dropped
                     == total, timeout=5)
            assert handler.down_since is None
    finally:
        proc.stop()
