"""Every service's /health and /metrics, and errord's absence hurting nobody.

/metrics is parsed with prometheus-client's own text parser, the way a
Prometheus server would read it.
"""

from __future__ import annotations

import smtplib

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import mail

pytestmark = pytest.mark.e2e

HTTP_SERVICES = {"web": "web", "smtpd": "smtpd_http", "messageserver": "messageserver",
                 "karl": "karl", "errord": "errord"}


def test_health_and_metrics_of_every_service_then_errord_down(platform):
    platform.manage("creategroup", "demo", "--owner", "alice@example.org")
    platform.manage("addmembers", "demo", "bob@example.org")
    platform.start()
    auth = {"Authorization": f"Bearer {platform.token}"}
    for service, port_name in HTTP_SERVICES.items():
        base = f"http://127.0.0.1:{platform.ports[port_name]}"
        health = httpx.get(f"{base}/health", timeout=10)
        assert health.status_code == 200, (service, health.text)
        assert health.json()["status"] in ("ok", "healthy"), (service, health.text)
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401, service
        metrics = httpx.get(f"{base}/metrics", headers=auth, timeout=10)
        assert metrics.status_code == 200, (service, metrics.text[:300])
        families = list(text_string_to_metric_families(metrics.text))
        assert families, f"{service} exposes no metrics"

    # errord stopped: posting and delivery go on.
    platform.kill("errord")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail("bob@example.org", ["demo@groups.localhost"], mail("member_post.eml"))
    received = platform.sink.wait_for(2)
    assert sorted(r for m in received for r in m.rcpt_tos) == ["alice@example.org",
                                                              "bob@example.org"]
    web = httpx.get(platform.url("web", "/g/demo/"), timeout=10)
    assert web.status_code == 200 and "Hello everyone" in web.text
