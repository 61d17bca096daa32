"""The internal APIs under hostile requests: no token, a wrong token, broken JSON, huge bodies.

Every service of the real platform is attacked over real HTTP. Each attack
must get a 4xx whose body is JSON naming the problem (never a 5xx, never an
HTML page), and the service must keep serving: after all of them, /health is
200 and a correct, authenticated call still works.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.reliability.conftest import alive, shared_platform

pytestmark = pytest.mark.e2e

# Limits lowered for the test so "huge" stays cheap to send on loopback.
MAX_MESSAGE_SIZE = 64 * 1024  # messageserver accepts JSON up to 2x this + 64 KiB
KARL_MAX_JOB_BYTES = 256 * 1024
ERRORD_MAX_BODY = 2 * 1024 * 1024  # errord/server.py MAX_BODY (not configurable)

# (service, method, path) of every endpoint that needs the token.
PROTECTED = [
    ("messageserver", "POST", "/v1/inbound"),
    ("messageserver", "POST", "/v1/recipients/check"),
    ("messageserver", "POST", "/v1/posts"),
    ("messageserver", "POST", "/v1/edits"),
    ("messageserver", "POST", "/v1/moderation/1"),
    ("messageserver", "POST", "/v1/delivery-events"),
    ("messageserver", "GET", "/metrics"),
    ("karl", "POST", "/v1/jobs"),
    ("karl", "POST", "/v1/mail"),
    ("karl", "GET", "/v1/jobs/nosuch"),
    ("karl", "GET", "/v1/dead-letters"),
    ("karl", "GET", "/metrics"),
    ("errord", "POST", "/v1/errors"),
    ("errord", "GET", "/v1/errors"),
    ("errord", "GET", "/metrics"),
    ("web", "GET", "/metrics"),
    ("smtpd_http", "GET", "/metrics"),
]
POSTS = [(s, p) for s, m, p in PROTECTED if m == "POST"]
HUGE = POSTS
LIMITS = {"messageserver": MAX_MESSAGE_SIZE * 2 + 65536, "karl": KARL_MAX_JOB_BYTES,
          "errord": ERRORD_MAX_BODY}
HEALTH = {"messageserver": "/health", "karl": "/health", "errord": "/health",
          "web": "/health", "smtpd_http": "/health"}


@pytest.fixture(scope="module")
def apis(tmp_path_factory):
    with shared_platform(tmp_path_factory.mktemp("apis"), MAX_MESSAGE_SIZE=str(MAX_MESSAGE_SIZE),
                         KARL_MAX_JOB_BYTES=str(KARL_MAX_JOB_BYTES)) as p:
        p.manage("creategroup", "demo", "--owner", "alice@example.org")
        p.start()
        yield p
        assert alive(p) == [], "a service died under the attacks"


def _json_error(r: httpx.Response) -> str:
    """The error text of a JSON error response (fails when the body is not a JSON object)."""
    assert r.headers.get("content-type", "").startswith("application/json"), (
        r.status_code, r.headers.get("content-type"), r.text[:200])
    body = r.json()
    assert isinstance(body, dict) and body.get("error"), body
    return body["error"]


def _request(p, service: str, method: str, path: str, token: str | None, **kw) -> httpx.Response:
    headers = kw.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, p.url(service, path), headers=headers, timeout=60, **kw)


@pytest.mark.parametrize("service,method,path", PROTECTED)
def test_no_token_and_wrong_token_get_401(apis, outcomes, service, method, path):
    kw = {"json": {}} if method == "POST" else {}
    for label, token, extra in [("no token", None, {}),
                                ("wrong token", apis.token[:-1] + "x", {}),
                                ("not a Bearer header", None,
                                 {"headers": {"Authorization": f"Basic {apis.token}"}}),
                                ("bearer without a token", None,
                                 {"headers": {"Authorization": "Bearer"}})]:
        r = _request(apis, service, method, path, token, **kw, **extra)
        assert r.status_code == 401, (label, r.status_code, r.text[:200])
        assert "token" in _json_error(r)
    outcomes.add("internal API", f"{service} {method} {path}: no/wrong/Basic/empty token",
                 "401 JSON each")


@pytest.mark.parametrize("service,path", POSTS)
def test_malformed_json_gets_400_with_a_json_reason(apis, outcomes, service, path):
    for body in [b"{not json", b"\xff\xfe\x00garbage", b'{"a": 1', b""]:
        r = _request(apis, service, "POST", path, apis.token, content=body,
                     headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.status_code, r.text[:200])
        assert "JSON" in _json_error(r) or "json" in _json_error(r)
    # Well-formed JSON of the wrong shape is refused as a client error too, never a 5xx.
    for body in [[], "a string", 42, None, {"rcpt_tos": 5, "events": "x", "data_b64": 7,
                                           "recipients": {}, "message_b64": []}]:
        r = _request(apis, service, "POST", path, apis.token, content=json.dumps(body))
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text[:200])
        _json_error(r)
    outcomes.add("internal API", f"{service} POST {path}: bad JSON, wrong shapes",
                 "400/4xx JSON, no 5xx")


@pytest.mark.parametrize("service,path", HUGE)
def test_huge_bodies_are_refused_with_json(apis, outcomes, service, path):
    size = LIMITS[service] + 1024
    filler = json.dumps({"padding": "x" * size}).encode()
    r = _request(apis, service, "POST", path, apis.token, content=filler,
                 headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 413), (r.status_code, r.text[:200])  # never a 5xx
    assert "limit" in _json_error(r) or "large" in _json_error(r).lower()

    def chunks():  # no Content-Length: the server must count as it reads
        for i in range(0, len(filler), 65536):
            yield filler[i:i + 65536]

    try:
        r = _request(apis, service, "POST", path, apis.token, content=chunks(),
                     headers={"Content-Type": "application/json"})
    except httpx.RemoteProtocolError:
        r = None  # the server hung up mid-body: refused, and nothing crashed (checked below)
    if r is not None:
        assert r.status_code in (400, 413), (r.status_code, r.text[:200])
        _json_error(r)
    outcomes.add("internal API", f"{service} POST {path}: {size // 1024} KiB body "
                 "(sized and chunked)", f"{r.status_code if r else 'closed'} JSON, no 5xx")


def test_services_keep_serving_after_the_attacks(apis, outcomes):
    """Runs last in the module: every service still answers, and correctly."""
    for service, path in HEALTH.items():
        r = httpx.get(apis.url(service, path), timeout=10)
        assert r.status_code == 200, (service, r.status_code, r.text[:200])
    auth = {"Authorization": f"Bearer {apis.token}"}
    check = httpx.post(apis.url("messageserver", "/v1/recipients/check"), headers=auth,
                       json={"address": "demo@groups.localhost"}, timeout=10)
    assert check.status_code == 200 and check.json()["ok"] is True
    groups = httpx.get(apis.url("errord", "/v1/errors"), headers=auth, timeout=10)
    assert groups.status_code == 200 and isinstance(groups.json()["groups"], list)
    mail = httpx.post(apis.url("karl", "/v1/mail"), headers=auth, timeout=10, json={
        "from": "demo+owner@groups.localhost", "to": ["bob@example.org"],
        "subject": "still alive", "text": "Karl still takes mail after the attacks.\n"})
    assert mail.status_code == 202, mail.text
    apis.sink.wait_for(1)
    for service in ("web", "smtpd_http", "karl", "errord", "messageserver"):
        assert httpx.get(apis.url(service, "/metrics"), headers=auth,
                         timeout=10).status_code == 200, service
    assert alive(apis) == []
    outcomes.add("internal API", "every service after all the attacks",
                 "alive, /health 200, authenticated calls work")
