"""errord's HTTP API over real HTTP against a real ``python -m errord`` process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from errord.client import ErrordError
from tests.errord.conftest import TOKEN

PROJECT_TB = (
    "Traceback (most recent call last):\n"
    '  File "{root}/messageserver/pipeline.py", line {line}, in accept\n'
    "    thread = find_thread(msg)\n"
    '  File "{root}/messageserver/threading.py", line {line2}, in find_thread\n'
    "    return refs[0]\n"
    "IndexError: list index out of range\n"
)


def report(service: str, line: int = 10, **extra) -> dict:
    from platformcore.env import PROJECT_DIR

    return {"service": service, "host": "web-1", "pid": 4242, "level": "ERROR",
            "message": "could not thread a message",
            "traceback": PROJECT_TB.format(root=PROJECT_DIR, line=line, line2=line + 30),
            "context": {"logger": "messageserver.pipeline"},
            "at": datetime.now(UTC).isoformat(), **extra}


def test_reports_are_grouped_and_counted(client, service):
    first = client.report(report(service, line=10))
    client.report_many([report(service, line=12, host="web-2"), report(service, line=99)])
    client.report(report(service, traceback="", message="pool exhausted after 30 s"))
    groups = client.groups(service=service)
    assert len(groups) == 2
    by_type = {g["exc_type"]: g for g in groups}
    crash = by_type["IndexError"]
    assert crash["fingerprint"] == first["fingerprints"][0]
    assert crash["count"] == 3
    assert crash["where"] == "messageserver/threading.py:find_thread"
    assert "line 129, in find_thread" in crash["traceback"]  # the last traceback is kept
    assert crash["hosts"] == ["web-1", "web-2"]
    assert crash["first_seen"] <= crash["last_seen"]
    assert by_type[""]["message"] == "pool exhausted after 30 s"


def test_one_group_with_its_last_occurrences(client, service):
    fp = client.report(report(service, line=1))["fingerprints"][0]
    client.report(report(service, line=2, pid=7, context={"logger": "x", "job": "j-1"}))
    group = client.group(fp)
    assert group["count"] == 2
    assert [o["pid"] for o in group["occurrences"]] == [7, 4242]
    assert group["occurrences"][0]["context"]["job"] == "j-1"
    with pytest.raises(ErrordError) as missing:
        client.group("0123456789abcdef0000")
    assert missing.value.status == 404


def test_since_service_and_limit_filters(client, service):
    old = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    client.report(report(service, traceback="", message="old trouble", at=old))
    client.report(report(service, traceback="", message="new trouble"))
    client.report(report(service + "-other", traceback="", message="elsewhere"))
    assert [g["message"] for g in client.groups(since=3600, service=service)] == ["new trouble"]
    assert [g["message"] for g in client.groups(since="3h", service=service)] == [
        "new trouble", "old trouble"]
    assert len(client.groups(service=service, limit=1)) == 1
    assert {g["service"] for g in client.groups(since=60)} >= {service, service + "-other"}


@pytest.mark.parametrize(("body", "field"), [
    ({"message": "no service"}, "service"),
    ({"service": "karl"}, "message"),
    ({"service": "karl", "message": "m", "pid": "12"}, "pid"),
    ({"service": "karl", "message": "m", "level": "LOUD"}, "level"),
    ({"service": "karl", "message": "m", "at": "yesterday"}, "at"),
    ({"service": "karl", "message": "m", "context": ["a"]}, "context"),
    ({"errors": [{"service": "karl", "message": "ok"}, {"service": 3, "message": "m"}]},
     "errors[1].service"),
    ({"errors": []}, "errors"),
    (["not", "an", "object"], "body"),
])
def test_bad_bodies_are_refused_naming_the_field(errord, body, field):
    response = httpx.post(f"{errord.url}/v1/errors", json=body,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert field.split(".")[-1].split("[")[0] in response.json()["error"]


def test_malformed_json_and_bad_query_parameters(errord):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{errord.url}/v1/errors", content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["error"]
    response = httpx.get(f"{errord.url}/v1/errors?since=soon", headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "since"
    response = httpx.get(f"{errord.url}/v1/errors?limit=0", headers=headers)
    assert response.status_code == 422 and response.json()["field"] == "limit"


def test_token_is_required_except_for_health(errord):
    body = {"service": "karl", "message": "m"}
    assert httpx.post(f"{errord.url}/v1/errors", json=body).status_code == 401
    wrong = httpx.post(f"{errord.url}/v1/errors", json=body,
                       headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert httpx.get(f"{errord.url}/v1/errors").status_code == 401
    assert httpx.get(f"{errord.url}/metrics").status_code == 401
    health = httpx.get(f"{errord.url}/health")
    assert health.status_code == 200 and health.json()["database"] == "ok"


def test_metrics_parse_as_prometheus_text(errord, client, service):
    client.report_many([report(service), report(service, traceback="", message="x")])
    text = httpx.get(f"{errord.url}/metrics",
                     headers={"Authorization": f"Bearer {TOKEN}"}).text
    samples = {(s.name, s.labels.get("service")): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("errord_errors_received_total", service)] == 2
    assert samples[("errord_groups", service)] == 2


def test_reports_survive_a_restart(tmp_path):
    from tests.errord.conftest import ErrordProcess

    proc = ErrordProcess(tmp_path).start()
    try:
        with proc.client() as c:
            c.report({"service": "durable", "message": "kept"})
    finally:
        proc.stop()
    proc = ErrordProcess(tmp_path, port=proc.port).start()
    try:
        with proc.client() as c:
            assert [g["message"] for g in c.groups(service="durable")] == ["kept"]
    finally:
        proc.stop()
