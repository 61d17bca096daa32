"""STARTTLS and implicit TLS on smtp:// relays, checked on the server's side of real connections.

Each test runs aiosmtpd with a throw-away self-signed certificate and sends
through Karl's Deliverer; the server records whether each copy arrived over
TLS, so "upgraded" means the server saw TLS, not that the client said so.
"""

from __future__ import annotations

import re

import pytest

from platformcore.env import SettingError
from tests.karl.conftest import start_sink
from tests.karl.deliver import deliver, karl_config
from tests.karl.securesink import certificate, start_secure_sink


@pytest.fixture
def untrusting(monkeypatch):
    """The machine's CAs only: the test certificate is not trusted."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def trusting(monkeypatch):
    """The test certificate is the one CA OpenSSL trusts (what an operator's CA bundle does)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate().ca_file))


def test_opportunistic_starttls_upgrades_when_offered_and_verifies(trusting):
    sink = start_secure_sink()
    try:
        [outcome] = deliver(karl_config(sink.url), "bob@example.org")
        assert outcome.state == "sent", outcome.reply
        [copy] = sink.handler.copies
        assert copy.rcpt == "bob@example.org" and copy.tls and copy.tls.startswith("TLS")
    finally:
        sink.controller.stop()


def test_verify_no_accepts_an_untrusted_certificate(untrusting):
    sink = start_secure_sink()
    try:
        [outcome] = deliver(karl_config(f"{sink.url}?verify=no"), "bob@example.org")
        assert outcome.state == "sent", outcome.reply
        assert [c.tls is not None for c in sink.handler.copies] == [True]
    finally:
        sink.controller.stop()


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_default_verification_refuses_a_self_signed_certificate(untrusting, scheme):
    sink = start_secure_sink(implicit_tls=scheme == "smtps")
    try:
        [outcome] = deliver(karl_config(f"{scheme}://127.0.0.1:{sink.port}"), "bob@example.org")
        assert outcome.state == "deferred" and outcome.relay_failed
        assert re.search(r"^4\.4\.1 .*certificate verify failed: self.signed certificate",
                         outcome.reply), outcome.reply
        assert sink.handler.received() == []
    finally:
        sink.controller.stop()


@pytest.mark.parametrize("how", ["url", "setting"])
def test_required_starttls_refuses_a_server_that_does_not_offer_it(how):
    plain = start_sink()  # no STARTTLS on offer
    try:
        config = (karl_config(f"{plain.url}?starttls=required") if how == "url"
                  else karl_config(plain.url, smtp_starttls="required"))
        [outcome] = deliver(config, "bob@example.org")
        assert outcome.state == "deferred" and outcome.relay_failed
        assert outcome.reply == "4.4.1 server does not offer STARTTLS"
        assert plain.handler.received() == []  # never sent in clear
    finally:
        plain.controller.stop()


def test_starttls_off_never_upgrades(untrusting):
    sink = start_secure_sink()
    try:
        [outcome] = deliver(karl_config(f"{sink.url}?starttls=off"), "bob@example.org")
        assert outcome.state == "sent", outcome.reply
        assert [c.tls for c in sink.handler.copies] == [None]
    finally:
        sink.controller.stop()


def test_smtps_speaks_tls_from_the_first_byte(trusting):
    sink = start_secure_sink(implicit_tls=True)
    try:
        outcomes = deliver(karl_config(f"smtps://127.0.0.1:{sink.port}"),
                           "a@example.org", "b@example.org")
        assert [o.state for o in outcomes] == ["sent", "sent"], outcomes
        assert sorted(c.rcpt for c in sink.handler.copies if c.tls) == [
            "a@example.org", "b@example.org"]
    finally:
        sink.controller.stop()


@pytest.mark.parametrize(("relay", "complaint"), [
    ("smtp://u:hunter2@relay.test:25?starttls=maybe", "starttls must be one of"),
    ("smtps://u:hunter2@relay.test?starttls=off", "makes no sense with smtps"),
    ("smtp://u:hunter2@relay.test?verify=perhaps", "verify must be yes or no"),
    ("smtp://u:hunter2@relay.test?tls=yes", "unknown option 'tls'"),
    ("smtp://u:hunter2@relay.test:smtp", "the port is not a number"),
    ("smtp://u:hunter2@relay.test:70000", "the port is not a number"),
    ("smtp://u:hunter2@/", "has no host"),
])
def test_a_mistyped_relay_stops_karl_without_showing_its_password(relay, complaint):
    with pytest.raises(SettingError, match=complaint) as caught:
        karl_config(relay)
    assert "hunter2" not in str(caught.value) and "u:" not in str(caught.value)
