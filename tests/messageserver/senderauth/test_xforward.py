"""XFORWARD through the real smtpd: Postfix in front hands over the real client's address.

SPF must be checked against the client Postfix talked to, not against Postfix
(127.0.0.1). smtpd trusts XFORWARD only from SMTPD_XFORWARD_HOSTS (here
127.0.0.1); a client on 127.0.0.2 is an ordinary stranger. The zone's
good.test allows only 127.0.0.1 by SPF and publishes p=reject, so an unsigned
post from good.test passes or is refused depending on which address smtpd
believes.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from tests.dnszone import nameserver
from tests.e2e.platform import Platform
from tests.messageserver.senderauth.conftest import message
from tests.messageserver.senderauth.test_smtp import query

pytestmark = pytest.mark.e2e
CLUB = "club@groups.localhost"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, dns_server) -> Iterator[Platform]:
    p = Platform(tmp_path_factory.mktemp("xforward")).prepare()
    p.env.update({"SENDER_AUTH": "on", "DMARC_NAMESERVER": nameserver(dns_server[0]),
                  "SMTPD_XFORWARD_HOSTS": "127.0.0.1"})
    try:
        p.manage("creategroup", "club", "--owner", "olga@good.test", "--title", "Club")
        p.start("smtpd", "messageserver", "karl")
        yield p
    finally:
        p.stop()
        print(f"--- smtpd log ---\n{p.log('smtpd')[-2000:]}")


def session(platform: Platform, source: str = "127.0.0.1") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30,
                          source_address=(source, 0))
    client.ehlo("postfix.groups.localhost")
    return client


def post(client: smtplib.SMTP, subject: str) -> tuple[int, str]:
    client.mail("olga@good.test")
    assert client.rcpt(CLUB)[0] == 250
    try:
        code, text = client.data(message("olga@good.test", CLUB, subject))
    except smtplib.SMTPDataError as exc:
        code, text = exc.smtp_code, exc.smtp_error
    return code, text.decode()


def test_forwarded_address_is_what_spf_checks(platform):
    with session(platform) as client:
        assert client.has_extn("xforward")
        assert client.docmd("XFORWARD", "ADDR=192.0.2.7 NAME=spam.example HELO=spam.example"
                            ) == (250, b"2.0.0 Ok")
        code, text = post(client, "Forged through the relay")
    assert code == 550 and text.startswith("5.7.1 DMARC policy of good.test is reject"), text


def test_forwarded_helo_reaches_authentication_results(platform):
    with session(platform) as client:
        assert client.docmd("XFORWARD", "ADDR=127.0.0.1 HELO=mx.good.test PROTO=ESMTP")[0] == 250
        code, text = post(client, "Relayed properly")
    assert code == 250, text
    [header] = query(platform, """
import email
from groups.models import Message
raw = bytes(Message.objects.get(group__name='club', subject='Relayed properly').raw.data)
out = email.message_from_bytes(raw).get_all('Authentication-Results')""")
    assert "spf=pass" in header and "smtp.helo=mx.good.test" in header, header


def test_ipv6_and_unavailable_values_are_understood(platform):
    with session(platform) as client:
        assert client.docmd("XFORWARD", "ADDR=IPV6:2001:db8::25 HELO=[UNAVAILABLE]")[0] == 250
        code, text = post(client, "From six")
    assert code == 550 and "DMARC" in text  # 2001:db8::25 is not 127.0.0.1 for SPF


def test_bad_xforward_is_refused_with_a_reason(platform):
    with session(platform) as client:
        assert client.docmd("XFORWARD", "COLOR=blue") == (
            501, b"5.5.4 bad XFORWARD attribute 'COLOR=blue'")
        assert client.docmd("XFORWARD", "ADDR=not-an-ip")[0] == 501
        client.mail("olga@good.test")
        assert client.docmd("XFORWARD", "ADDR=192.0.2.7") == (
            503, b"5.5.1 XFORWARD must come before MAIL FROM")


def test_an_untrusted_client_can_not_forward(platform):
    with session(platform, source="127.0.0.2") as client:
        assert not client.has_extn("xforward")
        code, text = client.docmd("XFORWARD", "ADDR=127.0.0.1")
        assert code == 550 and b"not permitted" in text
        code, text = post(client, "Stranger claims localhost")
    # still judged by its own address, 127.0.0.2, which good.test's SPF does not allow
    assert code == 550 and "DMARC" in text, text
