"""install() hooks in this process: Django's 500s, Celery task failures, idempotence.

The handler under test points at a real errord; ``errord.install._handler`` is
swapped for it (and back) so nothing else in the test run reports anywhere.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import errord.install as errord_install
from errord.handler import ErrordHandler
from tests.errord.conftest import PROJECT, wait_for


@pytest.fixture
def handler(errord, service, monkeypatch):
    h = ErrordHandler(service, errord.url, errord.token, timeout=1.0)
    monkeypatch.setattr(errord_install, "_handler", h)
    root = logging.getLogger()
    root.addHandler(h)  # as install() does: so a double report would show
    try:
        yield h
    finally:
        root.removeHandler(h)
        h.close()


def test_a_django_500_is_reported_with_its_request(handler, client, service, settings):
    from django.test import Client

    settings.ROOT_URLCONF = "tests.errord.crash_urls"
    from groups import errorreports

    errorreports.connect()
    response = Client(raise_request_exception=False).get("/broken/?page=2")
    assert response.status_code == 500
    group = wait_for(lambda: client.groups(service=service), timeout=1.0)[0]
    assert group["exc_type"] == "LookupError"
    assert group["message"] == "GET /broken/ failed: LookupError: no such archive page"
    assert group["where"] == "tests/errord/crash_urls.py:broken"
    occurrence = client.group(group["fingerprint"])["occurrences"][0]
    assert occurrence["context"]["path"] == "/broken/"
    handler.flush()  # django.request also logged it, with the same exception: not sent twice
    assert [g["count"] for g in client.groups(service=service)] == [1]


def test_a_failed_celery_task_is_reported_once(handler, client, service):
    from celery import Celery

    app = Celery("errordtest", set_as_current=False)
    app.conf.task_always_eager = True

    @app.task(name="cronjobs.senddigests")
    def senddigests():
        raise TimeoutError("digest for group demo took too long")

    errord_install.install_celery(app)
    result = senddigests.apply()
    assert result.failed()
    group = wait_for(lambda: client.groups(service=service), timeout=1.0)[0]
    assert group["exc_type"] == "TimeoutError"
    assert group["message"].startswith("task cronjobs.senddigests failed")
    assert "in senddigests" in group["traceback"]
    handler.flush()
    assert [g["count"] for g in client.groups(service=service)] == [1]


def test_install_is_idempotent_and_keeps_the_previous_hooks(errord, client, service):
    code = (
        "import logging, sys, threading\n"
        "from errord.install import install\n"
        "hook = sys.excepthook\n"
        f"a = install({service!r}); b = install({service!r})\n"
        "assert a is b\n"
        "assert sum(type(h).__name__ == 'ErrordHandler' for h in logging.getLogger().handlers)"
        " == 1\n"
        "assert sys.excepthook is not hook and sys.excepthook._errord\n"
        f"first = sys.excepthook; install({service!r}); assert sys.excepthook is first\n"
        "def poll_feed(): return 1 / 0\n"
        "t = threading.Thread(target=poll_feed, name='rsscrawler'); t.start(); t.join()\n"
        "print('done')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=errord.env(), capture_output=True,
                            text=True, timeout=20, cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    # the previous threading hook still printed the thread's traceback locally
    assert "ZeroDivisionError: division by zero" in result.stderr
    group = wait_for(lambda: client.groups(service=service), timeout=1.0)[0]
    assert group["exc_type"] == "ZeroDivisionError"
    assert group["where"] == "<string>:poll_feed"
    occurrence = client.group(group["fingerprint"])["occurrences"][0]
    assert occurrence["context"]["thread"] == "rsscrawler"


def test_install_again_after_logging_is_reconfigured(errord, client, service):
    """dictConfig (as django.setup() does) drops and closes root handlers; install() heals."""
    code = (
        "import logging, logging.config\n"
        "from errord.install import install\n"
        f"handler = install({service!r})\n"
        "logging.config.dictConfig({'version': 1, 'disable_existing_loggers': False,\n"
        "    'handlers': {'console': {'class': 'logging.StreamHandler'}},\n"
        "    'root': {'handlers': ['console'], 'level': 'INFO'}})\n"
        "assert handler not in logging.getLogger().handlers\n"
        f"assert install({service!r}) is handler\n"
        "logging.getLogger('messageserver').error('outbox stalled for %d s', 30)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=errord.env(), capture_output=True,
                            text=True, timeout=20, cwd=PROJECT)
    assert result.returncode == 0, result.stderr
    assert "outbox stalled for 30 s" in result.stderr
    group = wait_for(lambda: client.groups(service=service), timeout=1.0)[0]
    assert group["message"] == "outbox stalled for 30 s"
