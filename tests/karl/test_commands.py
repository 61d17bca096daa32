"""manage.py dkimkey and deadletters, run as a user runs them."""

from __future__ import annotations

import io
import re

import dkim
import pytest
from django.core.management import call_command

from karl.compose import Composer
from karl.dkimsign import load_key
from platformcore.env import get_env
from tests.karl.conftest import karl_mail


def test_dkimkey_creates_the_key_and_shows_a_record_that_verifies(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    get_env.cache_clear()
    try:
        out = io.StringIO()
        call_command("dkimkey", stdout=out)
        env = get_env()
        assert env.dkim_key_path.exists() and env.dkim_key_path.stat().st_mode & 0o777 == 0o600
        shown = io.StringIO()
        call_command("dkimkey", "--show", stdout=shown)
        text = shown.getvalue()
        assert "selector: groups" in text
        name = re.search(r"(\S+\._domainkey\.\S+?)\.? IN TXT", text).group(1)
        assert name == f"groups._domainkey.{env.groups_domain}"
        txt = "".join(re.findall(r'"([^"]*)"', text))
        key = load_key(env.dkim_key_path.read_bytes(), env.groups_domain, "groups")
        signed = Composer(karl_mail("plain.eml"), keys=[key]).compose()
        assert dkim.verify(signed, dnsfunc=lambda q, timeout=5: txt.encode()
                           if q.decode().rstrip(".") == name else None)
    finally:
        get_env.cache_clear()


def test_deadletters_lists_bounces(shared, monkeypatch):
    karl, sink, _ = shared
    sink.handler.policy = lambda rcpt, n: "550 5.1.1 gone" if rcpt == "gone@example.org" else None
    from tests.karl.test_api import dead_for, job

    karl.client().submit_job(job([{"address": "gone@example.org"}]))
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not dead_for(karl, "gone@example.org"):
        time.sleep(0.05)
    monkeypatch.setenv("KARL_URL", karl.url)
    monkeypatch.setenv("INTERNAL_API_TOKEN", "karl-test-token")
    get_env.cache_clear()
    try:
        out = io.StringIO()
        call_command("deadletters", "--limit", "10", stdout=out)
    finally:
        get_env.cache_clear()
    assert re.search(r"bounced\s+gone@example.org\s+job \w+\s+550 5.1.1 gone", out.getvalue())


def test_deadletters_says_when_karl_is_down(monkeypatch):
    from django.core.management import CommandError

    from tests.conftest import free_port

    monkeypatch.setenv("KARL_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CommandError, match="unreachable"):
        call_command("deadletters")
