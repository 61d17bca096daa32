"""Public listeners (web, smtpd) and internal APIs (messageserver, karl, errord) bind apart.

Exposing the website on 0.0.0.0 must not expose the internal APIs (#22 item 9).
BIND_ADDRESS stays the fallback for both. The last test starts errord and the
website as real processes and connects to each address.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from groups.management.commands.runplatform import process_specs
from karl.config import from_env as karl_config
from platformcore import env as envmod
from tests.conftest import free_port


def _host_of(specs, name: str) -> str | None:
    argv = dict(specs)[name]
    return argv[argv.index("--host") + 1] if "--host" in argv else None


def test_public_and_internal_addresses_are_separate(monkeypatch):
    monkeypatch.setenv("PUBLIC_BIND_ADDRESS", "0.0.0.0")
    monkeypatch.setenv("INTERNAL_BIND_ADDRESS", "127.0.0.2")
    env = envmod.load()
    specs = process_specs(env)
    assert _host_of(specs, "web") == _host_of(specs, "smtpd") == "0.0.0.0"
    assert _host_of(specs, "messageserver") == _host_of(specs, "errord") == "127.0.0.2"
    assert karl_config(env).bind_address == "127.0.0.2"
    # clients find the internal services where they listen
    monkeypatch.delenv("MESSAGESERVER_URL", raising=False)
    assert env.service_url("messageserver").startswith("http://127.0.0.2:")


@pytest.mark.parametrize("unset", ["PUBLIC_BIND_ADDRESS", "INTERNAL_BIND_ADDRESS"])
def test_bind_address_is_the_fallback_for_both(monkeypatch, unset):
    monkeypatch.setenv("BIND_ADDRESS", "127.0.0.3")
    monkeypatch.delenv(unset, raising=False)
    env = envmod.load()
    assert getattr(env, unset.lower()) == "127.0.0.3"


@pytest.mark.e2e
def test_real_internal_and_public_listeners_bind_apart(tmp_path):
    """errord (internal) and the website (public) started as processes, each on its address:
    the internal API is not reachable on the public address, nor the website on the internal."""
    ports = {"errord": free_port(), "web": free_port()}
    env = {**{k: v for k, v in os.environ.items() if k not in ("GROUPS_URLCONF",)},
           "DATA_DIR": str(tmp_path), "BIND_ADDRESS": "127.0.0.9",
           "PUBLIC_BIND_ADDRESS": "127.0.0.1", "INTERNAL_BIND_ADDRESS": "127.0.0.2",
           "ERRORD_PORT": str(ports["errord"]), "WEB_PORT": str(ports["web"]),
           "SITE_URL": f"http://127.0.0.1:{ports['web']}",
           "DJANGO_SETTINGS_MODULE": "groups.settings"}
    procs = [subprocess.Popen([sys.executable, "-m", module], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for module in ("errord", "groups.webserver")]
    try:
        expected = {("127.0.0.2", ports["errord"]), ("127.0.0.1", ports["web"])}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            up = set()
            for host, port in expected:
                with socket.socket() as s:
                    s.settimeout(0.5)
                    if s.connect_ex((host, port)) == 0:
                        up.add((host, port))
            if up == expected:
                break
            time.sleep(0.2)
        assert up == expected
        assert httpx.get(f"http://127.0.0.2:{ports['errord']}/health").status_code == 200
        for host, port in [("127.0.0.1", ports["errord"]), ("127.0.0.2", ports["web"]),
                           ("127.0.0.9", ports["errord"])]:
            with socket.socket() as s:
                s.settimeout(1)
                assert s.connect_ex((host, port)) != 0, (host, port)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
