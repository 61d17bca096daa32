"""The nginx site for real: nginx with deploy/nginx/groups.conf in front of gunicorn and
messageserver, over TLS with a certificate made in the test.

Only the ports, the certificate paths, the log folder and the static folder are
changed from the shipped file. The client trusts only the test certificate.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.deploy.test_deploy_files import nginx_main_conf, nginx_site_for_test
from tests.e2e.platform import PROJECT, Platform
from tests.tlscert import certificate

pytestmark = pytest.mark.e2e
NGINX = "/usr/sbin/nginx"


def wait_http(url: str, proc: subprocess.Popen, log: Path, **kwargs) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            httpx.get(url, timeout=2, **kwargs)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


@pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (.ci/run installs it)")
def test_nginx_serves_the_site_over_tls(tmp_path):
    p = Platform(tmp_path).prepare()
    http_port, https_port = free_port(), free_port()
    p.manage("seeddemo")
    p.manage("collectstatic", "--no-input", "--verbosity", "0")
    static = Path(p.env["DATA_DIR"]) / "static"
    p.start("messageserver")
    web_log = tmp_path / "gunicorn.log"
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:groups.gunicorn_conf",
                            "groups.wsgi:application"], cwd=PROJECT,
                           env={**p.env, "WEB_WORKERS": "2"}, stdout=open(web_log, "wb"),
                           stderr=subprocess.STDOUT, start_new_session=True)
    site = nginx_site_for_test(tmp_path)
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{p.ports['web']};")
    site = site.replace("server 127.0.0.1:8001;", f"server 127.0.0.1:{p.ports['messageserver']};")
    site = re.sub(r"listen (\[::\]:)?80;", lambda m: f"listen 127.0.0.1:{http_port};"
                  if not m.group(1) else "", site)
    site = re.sub(r"listen (\[::\]:)?443 ssl http2;", lambda m: f"listen 127.0.0.1:{https_port} ssl http2;"
                  if not m.group(1) else "", site)
    site = site.replace("/var/lib/groups/static/", f"{static}/")
    conf = nginx_main_conf(tmp_path, site)
    if os.geteuid() == 0:  # workers would be "nobody", who can't read pytest's 0700 folders
        conf.write_text("user root;\n" + conf.read_text())
    nginx_log = tmp_path / "error.log"
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", str(nginx_log),
                              "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT, start_new_session=True)
    trust = ssl.create_default_context(cafile=str(certificate().ca_file))
    base = f"https://127.0.0.1:{https_port}"
    try:
        wait_http(f"http://127.0.0.1:{p.ports['web']}/health", web, web_log)
        wait_http(base + "/health", nginx, nginx_log, verify=trust)
        with httpx.Client(verify=trust, timeout=10) as client:
            plain = httpx.get(f"http://127.0.0.1:{http_port}/groups/?x=1", timeout=5)
            assert plain.status_code == 301
            assert plain.headers["location"] == "https://127.0.0.1/groups/?x=1"

            home = client.get(base + "/")
            assert home.status_code == 200 and "demo" in home.text
            assert client.get(base + "/health").json()["status"] == "ok"

            css = client.get(base + "/static/groups/site.css")  # from disk, by nginx
            assert css.status_code == 200 and css.headers["server"].startswith("nginx")
            assert css.headers["cache-control"] == "max-age=604800, public"  # expires 7d
            assert css.content == (static / "groups" / "site.css").read_bytes()

            hook = client.post(base + "/inbound/webhook", content=b"x")  # messageserver answers
            assert hook.status_code == 404
            assert "INBOUND_WEBHOOK_SECRET" in hook.json()["error"]

            too_big = client.post(base + "/", content=b"x" * (52 * 1024 * 1024))
            assert too_big.status_code == 413  # refused by nginx before gunicorn reads it
    finally:
        for proc in (nginx, web):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        p.stop()
        shutil.rmtree(tmp_path / "body", ignore_errors=True)
