"""The disk under Karl's spool fills up: new jobs get 503, nothing already taken is lost.

The spool is put on a real 4 MiB tmpfs (mount needs root; CI runs as root, so
there a missing privilege is a failure, elsewhere a skip). The relay is down
while the disk fills, so everything accepted stays in the spool. Then the
operator frees space (the tmpfs grows) and restarts Karl, the relay comes up,
and every accepted recipient must arrive. (LevelDB refuses writes after an I/O
error until it is reopened, so Karl does not resume by itself: a restart is
the documented recovery.)
"""

from __future__ import annotations

import base64
import os
import subprocess
import time

import httpx
import pytest

from tests.conftest import free_port, in_ci
from tests.karl.conftest import TOKEN, KarlProcess, start_sink

pytestmark = pytest.mark.e2e


def _job(i: int, recipients: int = 5) -> dict:
    body = ("A post that takes room in the spool, one line of many.\r\n" * 1400 + f"{i}\r\n").encode()
    raw = (b"From: alice@example.org\r\nTo: demo@groups.localhost\r\nSubject: fill " +
           str(i).encode() + b"\r\nMessage-ID: <fill-" + str(i).encode() +
           b"@example.org>\r\n\r\n" + body)
    return {"message_b64": base64.b64encode(raw).decode(), "mail_from": "bounce@groups.localhost",
            "recipients": [{"address": f"m{i}-{r}@example.org"} for r in range(recipients)],
            "meta": {"i": i}}


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("the spool-full test needs root to mount a tmpfs")
        pytest.skip("mounting a small tmpfs needs root")
    spool = tmp_path / "data" / "karl-spool"
    spool.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(spool)], check=True)
    try:
        yield tmp_path / "data"
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False)


def test_a_full_spool_disk_refuses_new_jobs_and_keeps_the_old(small_disk, outcomes):
    relay_port = free_port()
    karl = KarlProcess(small_disk, f"smtp://127.0.0.1:{relay_port}", "http://127.0.0.1:9",
                       {"KARL_RETRY_BASE": "0.2", "KARL_RETRY_MAX": "1"}).start()
    sink = None
    try:
        client = httpx.Client(base_url=karl.url, timeout=30,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        accepted: list[str] = []
        refused = None
        for i in range(200):
            r = client.post("/v1/jobs", json=_job(i))
            if r.status_code == 202:
                accepted.append(r.json()["id"])
                continue
            refused = r
            break
        assert refused is not None, "the 4 MiB disk never filled"
        assert refused.status_code == 503, (refused.status_code, refused.text[:300])
        assert "error" in refused.json()
        assert accepted, "nothing was accepted before the disk filled"
        assert karl.proc.poll() is None, karl.logs()
        # what it took is still known to it
        assert client.get(f"/v1/jobs/{accepted[0]}").status_code == 200

        karl.stop()
        if karl.proc.poll() is None:
            karl.kill9()
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk / "karl-spool")],
                       check=True)
        sink = start_sink(relay_port)
        karl.start()
        want = {f"m{i}-{r}@example.org" for i in range(len(accepted)) for r in range(5)}
        deadline = time.monotonic() + 60
        got: set[str] = set()
        while time.monotonic() < deadline and not want <= got:
            with sink.handler.lock:
                got = {m.rcpt for m in sink.handler.messages}
            time.sleep(0.2)
        assert want <= got, (f"{len(want - got)} accepted recipients never delivered: "
                             f"{client.get(f'/v1/jobs/{accepted[0]}').text[:600]}")
        outcomes.add("fault", "the disk under Karl's spool full",
                     f"{len(accepted)} jobs taken, then 503 JSON; space freed and Karl "
                     f"restarted: all {len(want)} accepted recipients delivered")
    finally:
        karl.stop()
        if sink is not None:
            sink.controller.stop()
