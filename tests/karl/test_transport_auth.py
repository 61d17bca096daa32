"""AUTH PLAIN and LOGIN on smtp:// relays, against aiosmtpd's own authenticator.

Credentials come from the relay URL (percent-encoded) or from
KARL_SMTP_USERNAME/PASSWORD; the server records who logged in for each copy.
"""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import quote

import httpx
import pytest

from karl.config import from_env
from platformcore.env import load
from tests.karl.conftest import _shared_key
from tests.karl.deliver import deliver, karl_config
from tests.karl.securesink import certificate, start_secure_sink
from tests.karl.test_api import AUTH, job, wait_state

USER, SECRET = "relay-login@example.net", "p@ss:w/rd%é"
USERS = {USER: SECRET}


def relay_with_credentials(port: int, user: str = USER, password: str = SECRET,
                           options: str = "verify=no") -> str:
    return (f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"
            + (f"?{options}" if options else ""))


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_with_percent_encoded_credentials_in_the_url(mechanism):
    sink = start_secure_sink(users=USERS, mechanisms=(mechanism,))
    try:
        config = karl_config(relay_with_credentials(sink.port))
        assert config.relays == (f"smtp://127.0.0.1:{sink.port}?verify=no",)
        [outcome] = deliver(config, "bob@example.org")
        assert outcome.state == "sent", outcome.reply
        assert sink.handler.auth_attempts == [(mechanism, USER, True)]
        [copy] = sink.handler.copies
        assert copy.login == USER and copy.tls  # AUTH only ever after STARTTLS here
    finally:
        sink.controller.stop()


def test_auth_with_credentials_from_the_settings(monkeypatch, tmp_path):
    sink = start_secure_sink(users=USERS)
    try:
        for name, value in {"DATA_DIR": str(tmp_path), "INTERNAL_API_TOKEN": "t",
                            "SECRET_KEY": "s", "KARL_RELAYS": f"{sink.url}?verify=no",
                            "KARL_SMTP_USERNAME": USER, "KARL_SMTP_PASSWORD": SECRET}.items():
            monkeypatch.setenv(name, value)
        config = replace(from_env(load()), dkim_key_path=_shared_key())
        assert SECRET not in repr(config)
        [outcome] = deliver(config, "bob@example.org")
        assert outcome.state == "sent", outcome.reply
        assert [c.login for c in sink.handler.copies] == [USER]
    finally:
        sink.controller.stop()


def test_url_credentials_win_over_the_settings():
    sink = start_secure_sink(users={"relay-user": "relay-secret"})
    try:
        config = karl_config(relay_with_credentials(sink.port, "relay-user", "relay-secret"),
                             smtp_username=USER, smtp_password="not this one")
        [outcome] = deliver(config, "bob@example.org")
        assert outcome.state == "sent", outcome.reply
        assert sink.handler.auth_attempts == [("PLAIN", "relay-user", True)]
    finally:
        sink.controller.stop()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_wrong_password_defers_with_the_servers_reply(mechanism):
    sink = start_secure_sink(users=USERS, mechanisms=(mechanism,))
    try:
        [outcome] = deliver(karl_config(relay_with_credentials(sink.port, password="wrong")),
                            "bob@example.org")
        assert outcome.state == "deferred" and outcome.relay_failed
        assert outcome.reply == ("4.4.1 authentication failed: "
                                 "535 5.7.8 Authentication credentials invalid")
        assert sink.handler.auth_attempts == [(mechanism, USER, False)]
        assert sink.handler.received() == []
    finally:
        sink.controller.stop()


def test_credentials_are_not_sent_to_a_server_that_does_not_offer_auth():
    # The server offers AUTH only over TLS, and STARTTLS is off: AUTH is never advertised,
    # so the password must not go out in clear on the chance that the server takes it.
    sink = start_secure_sink(users=USERS)
    try:
        [outcome] = deliver(karl_config(relay_with_credentials(sink.port, options="starttls=off")),
                            "bob@example.org")
        assert outcome.state == "deferred" and outcome.relay_failed
        assert outcome.reply == "4.4.1 server does not offer AUTH"  # not the server's 538
        assert sink.handler.auth_attempts == [] and sink.handler.received() == []
    finally:
        sink.controller.stop()


def assert_kept_secret(karl, job_id: str, *secrets: str) -> None:  # noqa: ANN001
    """Nothing Karl shows or stores holds a secret, plain or percent-encoded."""
    client = karl.client()
    views = {"/health": json.dumps(client.health()),
             "/metrics": httpx.get(karl.url + "/metrics", headers=AUTH).text,
             "job status": json.dumps(client.job_status(job_id)),
             "dead letters": json.dumps(client.dead_letters()),
             "log": (karl.data_dir / "karl.log").read_text(errors="replace")}
    views.update({f"spool {p.name}": p.read_bytes().decode("latin-1")
                  for p in (karl.data_dir / "karl-spool").rglob("*") if p.is_file()})
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            leaks = [where for where, text in views.items() if form in text]
            assert not leaks, f"{form!r} shows in {leaks}"


def test_starttls_and_auth_relay_through_karls_api(karl_factory):
    sink = start_secure_sink(users=USERS)
    try:
        # verified TLS: the operator's CA bundle (SSL_CERT_FILE) holds the relay's certificate
        karl = karl_factory(relay_with_credentials(sink.port, options=""),
                            SSL_CERT_FILE=str(certificate().ca_file))
        client = karl.client()
        job_id = client.submit_job(job([{"address": "bob@example.org"},
                                        {"address": "carol@example.org"}]))
        wait_state(client, job_id, lambda s: s["counts"].get("sent") == 2)
        copies = sorted(sink.handler.copies, key=lambda c: c.rcpt)
        assert [(c.rcpt, c.login, bool(c.tls)) for c in copies] == [
            ("bob@example.org", USER, True), ("carol@example.org", USER, True)]
        [relay] = client.health()["relays"]
        assert relay["relay"] == f"smtp://127.0.0.1:{sink.port}" and relay["healthy"]
        assert_kept_secret(karl, job_id, SECRET, USER)
    finally:
        sink.controller.stop()


def test_a_wrong_password_through_karls_api_fails_the_relay_and_stays_secret(karl_factory):
    wrong = "wrong-" + SECRET
    sink = start_secure_sink(users=USERS)
    try:
        karl = karl_factory(relay_with_credentials(sink.port, password=wrong, options=""),
                            SSL_CERT_FILE=str(certificate().ca_file), KARL_RELAY_FAILURES="1")
        client = karl.client()
        job_id = client.submit_job(job([{"address": "bob@example.org"}]))
        status = wait_state(client, job_id, lambda s: s["recipients"][0]["attempts"] >= 1)
        [rcpt] = status["recipients"]
        assert rcpt["state"] in ("deferred", "sending")  # retried until the lifetime ends
        assert rcpt["reply"] == ("4.4.1 authentication failed: "
                                 "535 5.7.8 Authentication credentials invalid")
        [relay] = client.health()["relays"]
        assert relay["relay"] == f"smtp://127.0.0.1:{sink.port}" and not relay["healthy"]
        assert "535 5.7.8" in relay["last_error"]
        assert sink.handler.received() == []
        assert_kept_secret(karl, job_id, wrong, USER)
    finally:
        sink.controller.stop()
