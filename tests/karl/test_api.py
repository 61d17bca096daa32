"""Karl's HTTP API against a real Karl process, a real SMTP relay and a real event receiver."""

from __future__ import annotations

import base64
import email
import email.policy
import time

import dkim
import httpx
import pytest

from karl.client import KarlClient, KarlError, KarlUnavailable
from tests.conftest import free_port
from tests.karl.conftest import TOKEN, dnsfunc_for, karl_mail

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def job(recipients, **extra):
    return {"message_b64": base64.b64encode(karl_mail("mixed_attachment.eml")).decode(),
            "mail_from": "bounce@groups.localhost",
            "headers": [["List-Id", "<demo.groups.localhost>"], ["Precedence", "list"]],
            "remove_headers": ["DKIM-Signature"],
            "footer": {"text": "Leave: {{ unsubscribe_url }}"},
            "recipients": recipients, "meta": {"group": "demo", "number": 7}, **extra}


def dead_for(karl, address: str) -> list[dict]:
    return [d for d in karl.client().dead_letters(limit=1000) if d["address"] == address]


def wait_state(client: KarlClient, job_id: str, done, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.job_status(job_id)
        if done(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job never reached the state: {status}")


def test_a_job_is_personalised_signed_verp_and_reported(karl_factory, sink, receiver):
    karl = karl_factory(sink.url)
    client = karl.client()
    rcpts = [{"address": f"m{i}@example.org", "mail_from": f"bounce+m{i}@groups.localhost",
              "headers": [["List-Unsubscribe", f"<https://groups.localhost/u/{i}>"]],
              "vars": {"unsubscribe_url": f"https://groups.localhost/u/{i}"}} for i in range(5)]
    job_id = client.submit_job(job(rcpts, events=["bounced", "expired", "sent"]))
    got = sink.handler.wait_for(5)
    dnsfunc = dnsfunc_for(karl.key_path)
    for copy in got:
        i = copy.rcpt[1]
        assert copy.mail_from == f"bounce+m{i}@groups.localhost"
        assert dkim.verify(copy.data, dnsfunc=dnsfunc)
        msg = email.message_from_bytes(copy.data, policy=email.policy.default)
        assert msg["List-Unsubscribe"] == f"<https://groups.localhost/u/{i}>"
        assert f"Leave: https://groups.localhost/u/{i}" in msg.get_body(("plain",)).get_content()
    status = wait_state(client, job_id, lambda s: s["counts"].get("sent") == 5)
    assert {r["address"] for r in status["recipients"]} == {r["address"] for r in rcpts}
    assert all(r["code"] == 250 and "queued" in r["reply"] for r in status["recipients"])
    events = receiver.wait_for(lambda ev: len(ev) >= 5)
    assert {e["state"] for e in events} == {"sent"}
    assert all(e["meta"] == {"group": "demo", "number": 7} and e["job_id"] == job_id
               for e in events)


def test_transactional_mail_builds_alternative_and_hides_bcc(karl_factory, sink):
    karl = karl_factory(sink.url)
    mail_id = karl.client().send_mail(**{
        "from": "Demo <demo+owner@groups.localhost>", "to": ["alice@example.org"],
        "bcc": "audit@example.org", "subject": "Welcome, Zoë", "text": "Hello Zoë",
        "html": "<p>Hello Zoë</p>", "headers": {"X-Kind": "welcome"}})
    got = sink.handler.wait_for(2)
    assert sorted(r.rcpt for r in got) == ["alice@example.org", "audit@example.org"]
    msg = email.message_from_bytes(got[0].data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "Welcome, Zoë" and msg["Bcc"] is None and msg["X-Kind"] == "welcome"
    assert msg["Message-ID"] and msg["Date"]
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hello Zoë</p>"
    assert dkim.verify(got[0].data, dnsfunc=dnsfunc_for(karl.key_path))
    assert karl.client().job_status(mail_id)["id"] == mail_id


@pytest.mark.parametrize("body,status,field", [
    (b"{not json", 400, None),
    (b"[1, 2]", 422, ""),
    (b'{"mail_from": "bounce@groups.localhost", "recipients": []}', 422, "recipients"),
])
def test_malformed_bodies(shared, body, status, field):
    karl, sink, _ = shared
    response = httpx.post(karl.url + "/v1/jobs", content=body, headers=AUTH)
    assert response.status_code == status
    if field is not None:
        assert field in response.json()["fields"]


def test_invalid_fields_are_each_named(shared):
    karl, sink, _ = shared
    bad = job([{"address": "invalid1@example.org"}, {"address": "not an address"},
               {"address": "invalid2@example.org", "headers": [["Bad Name", "x"]]}],
              footer={"text": "{% if %}broken"}, events=["delivered"], lifetime=-1)
    bad["headers"].append(["Subject", "line\r\nBcc: evil@example.org"])
    with pytest.raises(KarlError) as err:
        karl.client().submit_job(bad)
    assert err.value.status == 422
    fields = err.value.body["fields"]
    assert fields["recipients[1].address"] == "not an email address"
    assert "recipients[2].headers[0]" in fields
    assert fields["footer.text"].startswith("template error")
    assert "events" in fields and "lifetime" in fields and "headers[2]" in fields
    assert not [m for m in sink.handler.received() if m.rcpt.startswith("invalid")]


def test_sandboxed_footer_cannot_reach_python(shared):
    karl, sink, _ = shared
    karl.client().submit_job(job([{"address": "sandbox@example.org"}], footer={
        "text": "{{ ''.__class__.__mro__ }}|{{ cycler.__init__.__globals__ }}"}))
    # The template compiles, but the sandbox refuses Python internals when it renders:
    # the recipient bounces with the reason, and nothing leaks.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not dead_for(karl, "sandbox@example.org"):
        time.sleep(0.05)
    [dead] = dead_for(karl, "sandbox@example.org")
    assert dead["state"] == "bounced" and "unsafe" in dead["reply"]
    assert not [m for m in sink.handler.received() if m.rcpt == "sandbox@example.org"]


def test_a_footer_failing_at_render_time_bounces_with_the_reason(shared):
    karl, sink, _ = shared
    karl.client().submit_job(job([{"address": "divide@example.org", "vars": {"n": 0}}],
                                 footer={"text": "{{ 1 / n }}"}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not dead_for(karl, "divide@example.org"):
        time.sleep(0.05)
    [dead] = dead_for(karl, "divide@example.org")
    assert dead["state"] == "bounced" and "ZeroDivisionError" in dead["reply"]
    assert not [m for m in sink.handler.received() if m.rcpt == "divide@example.org"]


def test_oversized_body_is_400_and_token_is_required(shared):
    karl, _, _ = shared
    big = job([{"address": f"big{i}@example.org"} for i in range(3000)])
    response = httpx.post(karl.url + "/v1/jobs", json=big, headers=AUTH)
    assert response.status_code == 400 and "limit" in response.json()["error"]
    assert httpx.post(karl.url + "/v1/jobs", json=big).status_code == 401
    assert httpx.get(karl.url + "/v1/jobs/x", headers={"Authorization": "Bearer no"}
                     ).status_code == 401
    assert httpx.get(karl.url + "/v1/jobs/nosuchjob", headers=AUTH).status_code == 404


def test_health_and_metrics(karl_factory, sink):
    karl = karl_factory(sink.url)
    karl.client().submit_job(job([{"address": "bob@example.org"}]))
    sink.handler.wait_for(1)
    health = karl.client().health()
    assert health["ok"] and health["spool"] == "ok"
    assert health["relays"][0]["relay"] == f"smtp://127.0.0.1:{sink.port}"
    time.sleep(0.2)
    text = httpx.get(karl.url + "/metrics", headers=AUTH).text
    assert f'karl_deliveries_total{{relay="smtp://127.0.0.1:{sink.port}",state="sent"}} 1.0' \
        in text
    assert "karl_delivery_seconds_bucket" in text and "karl_queued_recipients" in text


def test_client_reports_unavailable():
    with pytest.raises(KarlUnavailable):
        KarlClient(f"http://127.0.0.1:{free_port()}", TOKEN).job_status("x")
