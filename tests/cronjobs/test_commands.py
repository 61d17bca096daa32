"""The jobs as management commands: --help, --dry-run, --now, clear errors, and idempotence."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from groups.models import DigestRun, Feed, FeedEntry, OutboxItem
from tests.conftest import CORPORA
from tests.cronjobs.conftest import post
from tests.cronjobs.test_digests import DAY

PROJECT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("command,option", [("senddigests", "--dry-run"), ("bouncer", "--now"),
                                            ("expirethreads", "--now"), ("rsscrawler", "--feed")])
def test_help(command, option):
    result = subprocess.run([sys.executable, "manage.py", command, "--help"], cwd=PROJECT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert option in result.stdout and "Idempotent" in " ".join(result.stdout.split())


def test_senddigests_dry_run_then_twice(digest_group):
    post(digest_group, "bob@example.org", "Hello", "hi\n", DAY + timedelta(hours=3))
    at = (DAY + timedelta(days=1, minutes=1)).isoformat()
    dry = run("senddigests", "--dry-run", "--group", "demo", "--now", at)
    assert "due: digest #1-#1 to carol@example.org in demo (hour)" in dry
    assert not DigestRun.objects.exists()
    posts_queued = OutboxItem.objects.count()
    first = run("senddigests", "--now", at)
    assert "3 sent to 3 members" in first
    second = run("senddigests", "--now", at)
    assert "0 digests due, 0 sent" in second
    assert OutboxItem.objects.count() == posts_queued + 3


def test_bad_arguments_are_clear_errors(demo_group):
    with pytest.raises(CommandError, match="no group named 'nosuch'"):
        run("senddigests", "--group", "nosuch")
    with pytest.raises(CommandError, match="is not a date and time"):
        run("bouncer", "--now", "yesterday")
    with pytest.raises(CommandError, match="no feed with id 999"):
        run("rsscrawler", "--feed", "999")


def test_rsscrawler_and_the_others_twice(demo_group, feed_server):
    url = feed_server.serve("/f.xml", (CORPORA / "feeds/good/rss_item_title.xml").read_bytes())
    feed = Feed.objects.create(group=demo_group, url=url, poster_email="alice@example.org")
    assert "1 posted" in run("rsscrawler", "--feed", str(feed.id))
    assert "not_modified" in run("rsscrawler", "--feed", str(feed.id))
    assert FeedEntry.objects.count() == 1
    for command in ("bouncer", "expirethreads"):
        assert run(command) == run(command)
