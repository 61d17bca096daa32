"""smtpd with STARTTLS (SMTPD_TLS_CERT / SMTPD_TLS_KEY): transcripts against the real processes.

smtpd, messageserver and Karl run as subprocesses (tests/e2e/platform.py); the
certificate is a throw-away self-signed one made in the test
(tests/karl/securesink.py), and the client trusts only it, so a completed
handshake means smtpd really served that certificate. What was posted over
TLS must reach the members at the harness's sink.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from smtpd.tls import tls_context

import pytest

from platformcore.env import SettingError
from tests.e2e.platform import Platform
from tests.tlscert import certificate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Iterator[Platform]:
    cert = certificate()
    p = Platform(tmp_path_factory.mktemp("starttls")).prepare()
    p.env.update({"SMTPD_TLS_CERT": str(cert.cert_file), "SMTPD_TLS_KEY": str(cert.key_file),
                  "SMTPD_MAX_PER_IP": "2"})
    try:
        p.manage("creategroup", "club", "--owner", "olga@example.org", "--title", "Club")
        p.manage("addmembers", "club", "bob@example.org")
        p.start("smtpd", "messageserver", "karl")
        yield p
    finally:
        p.stop()
        print(f"--- smtpd log ---\n{p.log('smtpd')[-2000:]}")


def client_context() -> ssl.SSLContext:
    """Trusts the test certificate and nothing else."""
    return ssl.create_default_context(cafile=str(certificate().ca_file))


def post(platform: Platform, subject: str) -> tuple[str, tuple[int, bytes]]:
    """One session: EHLO, STARTTLS, EHLO again, then a post to club; the TLS version and DATA's reply."""
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.ehlo("mx.example.org")
        assert client.has_extn("starttls"), client.esmtp_features
        code, _ = client.starttls(context=client_context())
        assert code == 220
        version = client.sock.version()
        client.ehlo("mx.example.org")
        assert not client.has_extn("starttls")  # offered once, before TLS only
        client.mail("olga@example.org")
        assert client.rcpt("club@groups.localhost")[0] == 250
        body = (f"From: Olga <olga@example.org>\r\nTo: club@groups.localhost\r\n"
                f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@example.org>\r\n"
                f"\r\nOver TLS.\r\n").encode()
        reply = client.data(body)
    return version, reply


def test_a_post_over_starttls_is_accepted_and_delivered(platform):
    version, (code, text) = post(platform, "Sealed one")
    assert version.startswith("TLSv1."), version
    assert code == 250, text
    copies = platform.sink.wait_for(2)  # bob and olga
    assert sorted(r for c in copies for r in c.rcpt_tos) == ["bob@example.org",
                                                             "olga@example.org"]
    assert b"Subject: [Club] Sealed one" in copies[0].data or b"Sealed one" in copies[0].data


def test_starttls_sessions_count_once_toward_the_per_address_limit(platform):
    """After STARTTLS aiosmtpd announces the connection a second time; with a cap of 2
    sessions per address, three sessions in a row must all be served (a double count
    would leave one session counted after each and refuse the third with 421)."""
    for n in range(3):
        version, (code, text) = post(platform, f"Sequential {n}")
        assert code == 250, (n, text)


def test_plain_sessions_still_work_beside_tls(platform):
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.ehlo("mx.example.org")
        client.mail("olga@example.org")
        assert client.rcpt("club@groups.localhost")[0] == 250  # TLS is offered, not required


def test_tls_context_needs_both_settings(monkeypatch, tmp_path):
    cert = certificate()
    monkeypatch.delenv("SMTPD_TLS_CERT", raising=False)
    monkeypatch.delenv("SMTPD_TLS_KEY", raising=False)
    assert tls_context() is None
    monkeypatch.setenv("SMTPD_TLS_CERT", str(cert.cert_file))
    with pytest.raises(SettingError, match="SMTPD_TLS_KEY is not set"):
        tls_context()
    monkeypatch.setenv("SMTPD_TLS_KEY", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingError, match="cannot be loaded"):
        tls_context()
    monkeypatch.setenv("SMTPD_TLS_KEY", str(cert.key_file))
    assert isinstance(tls_context(), ssl.SSLContext)


def test_smtpd_with_a_bad_certificate_stops_at_start_naming_the_setting(tmp_path):
    p = Platform(tmp_path).prepare()
    p.env.update({"SMTPD_TLS_CERT": str(tmp_path / "nope.pem"),
                  "SMTPD_TLS_KEY": str(tmp_path / "nope.key")})
    try:
        with pytest.raises(AssertionError, match="SMTPD_TLS_CERT"):
            p.start("smtpd")
    finally:
        p.stop()
