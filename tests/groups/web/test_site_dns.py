"""The site admin's DNS page and `manage.py dnsrecords`, against a real DNS zone on loopback.

The zone (dnslib, tests/dnszone.py) is the only DNS asked (DNS_CHECK_NAMESERVER).
The DKIM value the zone publishes is computed here from the key file with
``cryptography``, not with the code under test, so "OK" means the page agrees
with an independent reading of the key Karl signs with.
"""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import CommandError, call_command
from dnslib import MX, RR, TXT

from karl.dkimkeys import ensure_key
from platformcore.env import get_env
from tests.dnszone import ZoneResolver, nameserver, start_dns_server
from tests.groups.web.conftest import client_for

DOMAIN = "groups.localhost"
MX_HOST = "mx.groups.localhost"


def _txt(text: str) -> TXT:
    return TXT([text[i:i + 255] for i in range(0, len(text), 255)])


def public_b64(private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def our_dkim_txt() -> str:
    pem = ensure_key(get_env().dkim_key_path).read_bytes()
    return f"v=DKIM1; k=rsa; p={public_b64(pem)}"


def other_dkim_txt() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return f"v=DKIM1; k=rsa; p={public_b64(pem)}"


@pytest.fixture
def zone(monkeypatch):
    """A zone to fill per test; DNS_CHECK_NAMESERVER and MAIL_HOSTNAME point at it."""
    resolver = ZoneResolver({})
    server = start_dns_server(resolver)
    monkeypatch.setenv("DNS_CHECK_NAMESERVER", nameserver(server))
    monkeypatch.setenv("MAIL_HOSTNAME", MX_HOST)
    monkeypatch.delenv("KARL_DKIM_ED25519", raising=False)
    yield resolver
    server.stop()


def rows(html: str) -> dict[tuple[str, str], str]:
    """(name, type) -> status, read from the page's table rows."""
    return {(name, rtype): status for status, name, rtype in re.findall(
        r'<tr class="dns-(\w+)" data-name="([^"]+)" data-type="(\w+)">', html)}


def test_every_record_in_place_reads_ok(zone, people):
    selector = get_env().dkim_selector
    zone.records.update({
        DOMAIN: [MX(MX_HOST, 10), "v=spf1 mx -all"],
        f"{selector}._domainkey.{DOMAIN}": [_txt(our_dkim_txt())],
        f"_dmarc.{DOMAIN}": ["v=DMARC1; p=reject"],
    })
    response = client_for(people["root"]).get("/site/dns/")
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html) == {(DOMAIN, "MX"): "ok", (DOMAIN, "TXT"): "ok",
                          (f"{selector}._domainkey.{DOMAIN}", "TXT"): "ok",
                          (f"_dmarc.{DOMAIN}", "TXT"): "ok"}
    assert "All records are in place" in html
    call_command("dnsrecords", "--check")  # exits 0: nothing raised


def test_missing_and_wrong_records_are_named_with_the_expected_value(zone, people):
    selector = get_env().dkim_selector
    zone.records.update({
        DOMAIN: [MX("mail.elsewhere.example", 10), "v=spf1 mx -all", "v=spf1 a -all"],
        f"{selector}._domainkey.{DOMAIN}": [_txt(other_dkim_txt())],
    })
    html = client_for(people["root"]).get("/site/dns/").content.decode()
    assert rows(html) == {(DOMAIN, "MX"): "wrong", (DOMAIN, "TXT"): "wrong",
                          (f"{selector}._domainkey.{DOMAIN}", "TXT"): "wrong",
                          (f"_dmarc.{DOMAIN}", "TXT"): "missing"}
    assert f"no MX points at {MX_HOST}." in html
    assert "more than one SPF record" in html
    assert "not the one Karl signs with" in html
    assert our_dkim_txt() in html  # the value to publish is on the page
    with pytest.raises(CommandError, match="missing or wrong"):
        call_command("dnsrecords", "--check")


def test_a_failing_lookup_is_unknown_not_missing(zone, people):
    zone.servfail.add(DOMAIN)
    html = client_for(people["root"]).get("/site/dns/").content.decode()
    assert rows(html)[(DOMAIN, "MX")] == "unknown"
    assert "lookup failed" in html


def test_only_site_admins_see_the_page(zone, people):
    for name in ("alice", "bob"):
        response = client_for(people[name]).get("/site/dns/")
        assert response.status_code == 302 and "/login" in response["Location"]
    assert zone.questions == []  # nobody else makes the site ask the DNS


def test_zone_lines_parse_as_dns_records(zone, db, capsys):
    call_command("dnsrecords")
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line and not line.startswith(";")]
    parsed = [RR.fromZone(line)[0] for line in lines]
    assert [(str(rr.rname), rr.rtype) for rr in parsed] == [
        (f"{DOMAIN}.", 15), (f"{DOMAIN}.", 16),
        (f"{get_env().dkim_selector}._domainkey.{DOMAIN}.", 16), (f"_dmarc.{DOMAIN}.", 16)]
    assert b"".join(parsed[2].rdata.data).decode() == our_dkim_txt()
    assert str(parsed[0].rdata.label) == f"{MX_HOST}."
