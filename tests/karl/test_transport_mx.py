"""Direct delivery (``mx``) against a real DNS server (dnslib) and real SMTP servers on loopback.

The zone below is the whole world: MX hosts resolve to 127.0.0.x or ::1, and
every server listens on one port per test (KARL_MX_PORT), so which server got
a copy says which MX was chosen. 127.0.0.4 never has a server (a dead MX).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator

import pytest
from dnslib import AAAA, MX, A

from karl.config import from_env
from karl.transports import MXTransport
from platformcore.dnsresolver import parse_nameserver
from platformcore.env import SettingError, load
from tests.conftest import free_port
from tests.dnszone import ZoneResolver, nameserver, start_dns_server
from tests.karl.conftest import karl_mail
from tests.karl.deliver import MAIL_FROM, deliver, karl_config
from tests.karl.securesink import start_secure_sink
from tests.karl.test_api import job, wait_state

ZONE = {
    # listed worst first: the order of the answer must not matter, the preference must
    "pref.test": [MX("mx-b.pref.test", 20), MX("mx-a.pref.test", 10)],
    "mx-a.pref.test": [A("127.0.0.2")],
    "mx-b.pref.test": [A("127.0.0.3")],
    # the best MX has no address, the next is down, the third takes the mail
    "fallback.test": [MX("mx-live.fallback.test", 30), MX("mx-ghost.fallback.test", 5),
                      MX("mx-dead.fallback.test", 10)],
    "mx-dead.fallback.test": [A("127.0.0.4")],
    "mx-live.fallback.test": [A("127.0.0.2")],
    "a-only.test": [A("127.0.0.2")],
    "aaaa-only.test": [AAAA("::1")],
    "bare.test": ["v=spf1 -all"],
    "nullmx.test": [MX(".", 0)],
    "noaddress.test": [MX("mx.noaddress.test", 10)],
    "down.test": [MX("mx.down.test", 10)],
    "mx.down.test": [A("127.0.0.4")],
    "partial.test": [MX("mx1.partial.test", 10), MX("mx2.partial.test", 20)],
    "mx1.partial.test": [A("127.0.0.2")],
    "mx2.partial.test": [A("127.0.0.3")],
    "blackhole.test": [MX("mx-hole.blackhole.test", 10), MX("mx-live.blackhole.test", 20)],
    "mx-hole.blackhole.test": [A("127.0.0.5")],
    "mx-live.blackhole.test": [A("127.0.0.2")],
}


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def dns() -> Iterator[str]:
    """The zone's server, as KARL_DNS_NAMESERVER would name it."""
    server = start_dns_server(ZoneResolver(ZONE, servfail={"servfail.test"},
                                           silent={"silent.test"}))
    yield nameserver(server)
    server.stop()


@pytest.fixture
def mx_port() -> int:
    return free_port()


def mx_config(dns: str, port: int, **settings):  # noqa: ANN003, ANN201
    return karl_config("mx", dns_nameserver=parse_nameserver("KARL_DNS_NAMESERVER", dns),
                       mx_port=port, **settings)


def test_the_most_preferred_mx_gets_the_mail(dns, mx_port):
    best = start_secure_sink(hostname="127.0.0.2", port=mx_port)
    worse = start_secure_sink(hostname="127.0.0.3", port=mx_port)
    try:
        outcomes = deliver(mx_config(dns, mx_port), "bob@pref.test", "carol@PREF.test")
        assert [o.state for o in outcomes] == ["sent", "sent"], outcomes
        assert sorted(m.rcpt for m in best.handler.received()) == ["bob@pref.test",
                                                                    "carol@PREF.test"]
        assert worse.handler.received() == []
        # opportunistic TLS, unverified: the self-signed certificate is no obstacle
        assert all(c.tls for c in best.handler.copies)
    finally:
        best.controller.stop()
        worse.controller.stop()


def test_an_mx_without_address_or_server_is_passed_over(dns, mx_port):
    live = start_secure_sink(hostname="127.0.0.2", port=mx_port)
    try:
        [outcome] = deliver(mx_config(dns, mx_port), "bob@fallback.test")
        assert outcome.state == "sent", outcome.reply
        assert [m.rcpt for m in live.handler.received()] == ["bob@fallback.test"]
    finally:
        live.controller.stop()


def test_a_host_failing_mid_batch_hands_only_the_rest_to_the_next_mx(dns, mx_port):
    first = start_secure_sink(hostname="127.0.0.2", port=mx_port)
    first.handler.policy = lambda rcpt, n: "421 4.3.2 going down" if rcpt.startswith(
        "b@") else None
    second = start_secure_sink(hostname="127.0.0.3", port=mx_port)
    try:
        outcomes = deliver(mx_config(dns, mx_port), *(f"{x}@partial.test" for x in "abc"))
        assert [o.state for o in outcomes] == ["sent", "sent", "sent"], outcomes
        assert [m.rcpt for m in first.handler.received()] == ["a@partial.test"]
        assert [m.rcpt for m in second.handler.received()] == ["b@partial.test",
                                                               "c@partial.test"]
    finally:
        first.controller.stop()
        second.controller.stop()


@pytest.mark.parametrize(("domain", "address"), [("a-only.test", "127.0.0.2"),
                                                 ("aaaa-only.test", "::1")])
def test_a_domain_without_mx_gets_mail_at_its_address(dns, mx_port, domain, address):
    if ":" in address and not ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    server = start_secure_sink(hostname=address, port=mx_port)
    try:
        [outcome] = deliver(mx_config(dns, mx_port), f"bob@{domain}")
        assert outcome.state == "sent", outcome.reply
        assert [m.rcpt for m in server.handler.received()] == [f"bob@{domain}"]
    finally:
        server.controller.stop()


@pytest.mark.parametrize(("address", "state", "code", "reply"), [
    ("x@nullmx.test", "bounced", 556,
     r"5\.1\.10 nullmx\.test publishes a null MX: it accepts no mail \(RFC 7505\)"),
    ("x@nowhere.test", "bounced", 550, r"5\.1\.2 domain nowhere\.test does not exist \(NXDOMAIN\)"),
    ("x@bare.test", "bounced", 550, r"5\.1\.2 bare\.test has no MX and no A/AAAA record"),
    ("x@servfail.test", "deferred", 451,
     r"4\.4\.3 DNS lookup of MX for servfail\.test failed: NoNameservers: .*SERVFAIL.*"),
    ("x@silent.test", "deferred", 451,
     r"4\.4\.3 DNS lookup of MX for silent\.test failed: LifetimeTimeout: .*"),
    ("x@noaddress.test", "deferred", 451,
     r"4\.4\.4 no MX host of noaddress\.test has an address: mx\.noaddress\.test"),
    ("x@down.test", "deferred", 451, r"4\.4\.1 no MX host of down\.test took the message: "
                                     r"mx\.down\.test: cannot connect to 127\.0\.0\.4:\d+: "
                                     r"ConnectionRefusedError: .*"),
])
def test_what_the_dns_says_decides_bounce_or_defer(dns, mx_port, address, state, code, reply):
    [outcome] = deliver(mx_config(dns, mx_port, smtp_timeout=1.0), address)
    assert (outcome.state, outcome.code) == (state, code), outcome
    assert re.fullmatch(reply, outcome.reply), outcome.reply
    # a domain's trouble is not the transport's: ``mx`` stays healthy
    assert not outcome.relay_failed


def test_a_black_holed_mx_costs_one_timeout_not_one_per_batch(dns, mx_port):
    hole = socket.socket()
    hole.bind(("127.0.0.5", mx_port))
    hole.listen()  # connections are taken and never greeted
    live = start_secure_sink(hostname="127.0.0.2", port=mx_port)
    try:
        async def go() -> list[float]:
            transport = MXTransport(timeout=1.0, port=mx_port, helo="groups.localhost",
                                    nameserver=parse_nameserver("KARL_DNS_NAMESERVER", dns))
            took = []
            for n in range(2):
                started = time.monotonic()
                [result] = await transport.send([(n, MAIL_FROM, f"m{n}@blackhole.test",
                                                  karl_mail("mixed_attachment.eml"))])
                took.append(time.monotonic() - started)
                assert result.reply is not None and result.reply.code == 250, result
            await transport.close()
            return took

        first, second = asyncio.run(go())
        assert first >= 1.0 and second < 0.9, (first, second)
        assert [m.rcpt for m in live.handler.received()] == ["m0@blackhole.test",
                                                             "m1@blackhole.test"]
    finally:
        live.controller.stop()
        hole.close()


def test_mx_delivery_through_karls_api(dns, mx_port, karl_factory):
    best = start_secure_sink(hostname="127.0.0.2", port=mx_port)
    try:
        karl = karl_factory("mx", KARL_DNS_NAMESERVER=dns, KARL_MX_PORT=str(mx_port),
                            KARL_RELAY_FAILURES="1")
        client = karl.client()
        job_id = client.submit_job(job([{"address": a} for a in (
            "bob@pref.test", "carol@a-only.test", "x@nullmx.test", "y@down.test")]))
        status = wait_state(client, job_id, lambda s: s["counts"].get("sent") == 2
                            and s["counts"].get("bounced") == 1
                            and s["recipients"][3]["attempts"] >= 1)
        by_address = {r["address"]: r for r in status["recipients"]}
        assert sorted(m.rcpt for m in best.handler.received()) == ["bob@pref.test",
                                                                    "carol@a-only.test"]
        assert by_address["x@nullmx.test"]["code"] == 556
        assert by_address["x@nullmx.test"]["reply"].startswith("5.1.10 nullmx.test")
        assert by_address["y@down.test"]["state"] in ("deferred", "sending")
        assert by_address["y@down.test"]["reply"].startswith(
            "4.4.1 no MX host of down.test took the message: mx.down.test: cannot connect")
        # one dead domain is no reason to call direct delivery unhealthy
        assert [(r["relay"], r["healthy"]) for r in client.health()["relays"]] == [("mx", True)]
    finally:
        best.controller.stop()


def settings(monkeypatch, tmp_path, **values: str):  # noqa: ANN001, ANN201
    """Karl's settings read from this environment, as ``python -m karl`` reads them."""
    for name, value in {"DATA_DIR": str(tmp_path), "INTERNAL_API_TOKEN": "t",
                        "SECRET_KEY": "s", "KARL_RELAYS": "mx", **values}.items():
        monkeypatch.setenv(name, value)
    return from_env(load())


@pytest.mark.parametrize(("value", "parsed"), [
    ("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)), ("[::1]:5353", ("::1", 5353))])
def test_the_nameserver_setting(monkeypatch, tmp_path, value, parsed):
    config = settings(monkeypatch, tmp_path, KARL_DNS_NAMESERVER=value, KARL_MX_PORT="2525")
    assert (config.dns_nameserver, config.mx_port) == (parsed, 2525)


@pytest.mark.parametrize(("name", "value", "complaint"), [
    ("KARL_DNS_NAMESERVER", "dns.example.net", "is not an IP address"),
    ("KARL_DNS_NAMESERVER", "127.0.0.1:fifty-three", "the port is not a number"),
    ("KARL_DNS_NAMESERVER", "[::1:53", "write an IPv6 address as"),
    ("KARL_MX_PORT", "twenty-five", "is not a whole number"),
    ("KARL_MX_PORT", "0", "must be at least 1"),
    ("KARL_MX_PORT", "70000", "must be at most 65535"),
])
def test_a_mistyped_mx_setting_stops_karl(monkeypatch, tmp_path, name, value, complaint):
    with pytest.raises(SettingError, match=f"{name}.*{complaint}"):
        settings(monkeypatch, tmp_path, **{name: value})
