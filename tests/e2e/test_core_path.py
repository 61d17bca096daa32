"""The core mail path, end to end, as a user and their mail client see it.

Real processes on loopback (web, smtpd, messageserver, karl, errord), a real
aiosmtpd server as Karl's relay, smtplib as the member's mail client, dkimpy
as the independent DKIM verifier, httpx as the browser and the mail client
that performs RFC 8058 one-click unsubscribes.
"""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import time

import dkim
import httpx
import pytest

from tests.conftest import mail

pytestmark = pytest.mark.e2e


def _dns_from_dkimkey_show(output: str):
    """dkimpy's dnsfunc, answering with exactly the record `dkimkey --show` tells us to publish."""
    name = re.search(r"([\w.-]+\._domainkey\.[\w.-]+)", output).group(1).rstrip(".")
    quoted = re.findall(r'"([^"]*)"', output)
    txt = "".join(quoted) if quoted and any("p=" in q for q in quoted) else re.search(
        r"(v=DKIM1;[^\n]*)", output).group(1)
    assert "p=" in txt, output

    def dnsfunc(qname, timeout=5):  # noqa: ARG001
        q = qname.decode() if isinstance(qname, bytes) else qname
        return txt.encode() if q.rstrip(".") == name else None

    return name, dnsfunc


def _send(platform, mail_from: str, rcpts: list[str], data: bytes):
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        return client.sendmail(mail_from, rcpts, data)


def test_member_post_reaches_every_member_signed_and_personalised(platform):
    platform.manage("creategroup", "demo", "--owner", "alice@example.org", "--title", "Demo")
    platform.manage("addmembers", "demo", "Bob <bob@example.org>", "carol@example.org",
                    "dave@example.org")
    shown = platform.manage("dkimkey", "--show").stdout
    record_name, dnsfunc = _dns_from_dkimkey_show(shown)
    assert record_name.endswith("._domainkey.groups.localhost")
    platform.start()

    _send(platform, "bob@example.org", ["demo@groups.localhost"], mail("member_post.eml"))
    members = {"alice@example.org", "bob@example.org", "carol@example.org", "dave@example.org"}
    received = platform.sink.wait_for(len(members))
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(members)  # one copy each

    unsubscribe_links = {}
    for copy in received:
        [rcpt] = copy.rcpt_tos
        assert dkim.verify(copy.data, dnsfunc=dnsfunc), f"DKIM fails for {rcpt}"
        msg = email.message_from_bytes(copy.data, policy=email.policy.default)
        assert msg["List-Id"].endswith("<demo.groups.localhost>")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Precedence"] == "list"
        assert copy.mail_from.startswith("bounce+") and copy.mail_from.endswith(
            "@groups.localhost")
        https = re.search(r"<(https?://[^>]+)>", msg["List-Unsubscribe"]).group(1)
        assert "mailto:demo+unsubscribe@groups.localhost" in msg["List-Unsubscribe"]
        body = msg.get_body(("plain",)).get_content()
        assert "this is my first post" in body
        assert https in body  # the footer carries the member's own link
        unsubscribe_links[rcpt] = https
    assert len(set(unsubscribe_links.values())) == len(members)

    # The web shows the post on the topic page.
    home = httpx.get(platform.url("web", "/g/demo/"), timeout=10, follow_redirects=True)
    assert home.status_code == 200 and "Hello everyone" in home.text
    topic_path = re.search(r'href="(/g/demo/topic/\d+/)"', home.text).group(1)
    topic = httpx.get(platform.url("web", topic_path), timeout=10)
    assert topic.status_code == 200 and "this is my first post" in topic.text

    # One-click unsubscribe (RFC 8058): a GET only shows a page, a POST unsubscribes.
    carol = unsubscribe_links["carol@example.org"]
    page = httpx.get(carol, timeout=10)
    assert page.status_code == 200 and "carol@example.org" in page.text
    tail = "abc" if not carol.rstrip("/").endswith("abc") else "abd"
    tampered = carol.rstrip("/")[:-3] + tail + "/"
    assert httpx.post(tampered, data={"List-Unsubscribe": "One-Click"},
                      timeout=10).status_code in (400, 403, 404)
    done = httpx.post(carol, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200

    platform.sink.clear()
    _send(platform, "alice@example.org", ["demo@groups.localhost"], mail("member_reply.eml"))
    platform.sink.wait_for(len(members) - 1)
    time.sleep(1)  # anything that should not come would have come by now
    copies = [m for m in platform.sink.messages if b"<reply-1@example.org>" in m.data]
    assert sorted(r for m in copies for r in m.rcpt_tos) == sorted(members - {
        "carol@example.org"})


def test_refusals_carry_the_right_codes(platform):
    platform.manage("creategroup", "demo", "--owner", "alice@example.org")
    platform.start("smtpd", "messageserver", "karl")
    with pytest.raises(smtplib.SMTPDataError) as nonmember:
        _send(platform, "charlie@example.net", ["demo@groups.localhost"],
              mail("nonmember_post.eml"))
    assert nonmember.value.smtp_code == 550 and b"not a member" in nonmember.value.smtp_error
    # A missing group is refused at DATA, as a hidden one is to outsiders (#22 item 8).
    with pytest.raises(smtplib.SMTPDataError) as unknown:
        _send(platform, "alice@example.org", ["nosuch@groups.localhost"],
              mail("member_post.eml"))
    assert unknown.value.smtp_code == 550 and unknown.value.smtp_error.startswith(b"5.1.1")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as relay:
        _send(platform, "alice@example.org", ["someone@example.com"], mail("member_post.eml"))
    code, text = relay.value.recipients["someone@example.com"]
    assert code == 550 and text.startswith(b"5.7.1")

    # messageserver down: smtpd answers 451 so the sender retries later.
    platform.kill("messageserver")
    with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)) as down:
        _send(platform, "alice@example.org", ["demo@groups.localhost"], mail("member_post.eml"))
    codes = ([c for c, _ in down.value.recipients.values()]
             if isinstance(down.value, smtplib.SMTPRecipientsRefused)
             else [down.value.smtp_code])
    assert codes == [451]
