"""manage.py errors against a real errord, through call_command."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from platformcore.env import get_env
from tests.conftest import free_port
from tests.errord.conftest import ErrordProcess

TB = ('Traceback (most recent call last):\n  File "{root}/karl/delivery.py", line 88, in '
      'deliver\n    rcpt = job.recipients[name]\nKeyError: \'alice@example.org\'\n')


@pytest.fixture(scope="module")
def shared_errord(tmp_path_factory):
    """errord with this test run's own token, so the command's defaults reach it."""
    proc = ErrordProcess(tmp_path_factory.mktemp("errord-cmd"),
                         token=get_env().internal_api_token).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def errord_url(shared_errord, monkeypatch):
    monkeypatch.setenv("ERRORD_URL", shared_errord.url)
    return shared_errord


def errors(*args: str) -> str:
    out = StringIO()
    call_command("errors", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_table_shows_count_service_error_and_where(errord_url, service):
    from platformcore.env import PROJECT_DIR

    with errord_url.client() as client:
        for _ in range(3):
            client.report({"service": service, "message": "delivery failed",
                           "traceback": TB.format(root=PROJECT_DIR)})
        client.report({"service": "other-" + service, "message": "not this one"})
        fingerprint = client.groups(service=service)[0]["fingerprint"]
    out = errors("--since", "1h", "--service", service)
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["COUNT", "LAST", "SEEN", "SERVICE"]
    assert row.split()[0] == "3"
    assert service in row and "KeyError: delivery failed" in row
    assert "karl/delivery.py:deliver" in row and fingerprint in row
    assert "not this one" not in out
    assert "1 error groups, 3 occurrences" in out

    shown = errors("--show", fingerprint)
    assert "3 times" in shown and "KeyError: 'alice@example.org'" in shown


def test_no_errors_is_said_plainly(errord_url, service):
    assert errors("--since", "30m", "--service", service).strip() == (
        f"No errors from {service} in the last 30m.")


def test_follow_prints_new_occurrences(errord_url, service):
    with errord_url.client() as client:
        client.report({"service": service, "message": "before following"})

        def later():
            time.sleep(1.5)
            client.report({"service": service, "message": "while following",
                           "exc_type": "TimeoutError"})

        thread = threading.Thread(target=later)
        thread.start()
        out = errors("--service", service, "--follow", "--interval", "0.25", "--polls", "20")
        thread.join()
    table, followed = out.split("Following new errors (Ctrl-C stops)...")
    assert "before following" in table and "while following" not in table
    assert "TimeoutError: while following" in followed
    assert "before following" not in followed


def test_unreachable_errord_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ERRORD_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CommandError, match="unreachable.*Is errord running"):
        errors()


def test_bad_arguments_are_refused(errord_url):
    with pytest.raises(CommandError, match="not a duration"):
        errors("--since", "yesterday")
    with pytest.raises(CommandError, match="--limit"):
        errors("--limit", "0")


def test_unreachable_errord_exits_with_code_1(tmp_path):
    import os
    import subprocess
    import sys

    from tests.errord.conftest import PROJECT

    env = {**os.environ, "DATA_DIR": str(tmp_path),
           "ERRORD_URL": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run([sys.executable, "manage.py", "errors", "--since", "1h"], cwd=PROJECT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "Is errord running" in result.stderr
