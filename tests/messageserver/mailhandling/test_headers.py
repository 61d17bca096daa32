"""Each header and footer link of an outgoing group message, built by the real pipeline.

The job is what Karl receives: the headers every copy carries, each
recipient's own List-Unsubscribe and VERP sender, and the footer variables
whose links must be signed for that one member.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from groups import tokens
from groups.models import Group, Membership, Message
from messageserver import fanout, pipeline
from tests.conftest import mail
from tests.messageserver.mailhandling.helpers import headers_of, job_for


@pytest.fixture
def job(demo_group) -> dict:
    Group.objects.filter(pk=demo_group.pk).update(subject_tag="Demo")
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             mail("member_post.eml"))
    assert outcome.kind == "accepted"
    return job_for("demo", outcome.number)


def test_headers_every_copy_carries(job):
    h = headers_of(job)
    assert h["List-Id"] == "Demo group <demo.groups.localhost>"
    assert h["List-Post"] == "<mailto:demo@groups.localhost>"
    assert h["List-Help"] == "<mailto:demo+help@groups.localhost>"
    assert h["List-Subscribe"] == "<mailto:demo+subscribe@groups.localhost>"
    assert h["List-Owner"] == "<mailto:demo+owner@groups.localhost>"
    assert h["List-Archive"] == "<http://testserver/g/demo/>"
    assert h["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert h["Precedence"] == "list"
    assert h["Sender"] == h["X-Loop"] == "demo@groups.localhost"
    assert h["Subject"] == "[Demo] Hello everyone #intro"
    assert h["Reply-To"] == "demo@groups.localhost"
    assert "From" not in h  # example.org publishes no strict DMARC policy here
    # everything we set replaces the original's; signatures we break are removed
    for name in [*h, "DKIM-Signature", "ARC-Seal", "ARC-Message-Signature",
                 "ARC-Authentication-Results", "Return-Path"]:
        assert name in job["remove_headers"]
    assert job["dkim"] is True and job["meta"] == {"group": "demo", "number": 1, "kind": "post"}


def test_each_recipient_has_its_own_signed_addresses_and_links(job):
    members = {m.email: m for m in Membership.objects.filter(group__name="demo")}
    message = Message.objects.get(group__name="demo", number=1)
    seen_tokens = set()
    for rcpt in job["recipients"]:
        member = members[rcpt["address"]]
        verp = re.fullmatch(r"bounce\+(\S+)@groups\.localhost", rcpt["mail_from"])
        assert tokens.check(tokens.BOUNCE, verp.group(1)) == [str(member.pk), "1"]
        [(name, value)] = rcpt["headers"]
        assert name == "List-Unsubscribe"
        value = value.replace("\r\n", "")  # unfolded (RFC 5322 §2.2.3)
        mailto, https = re.fullmatch(r"<(mailto:[^>]+)>, <(https?://[^>]+)>", value).groups()
        assert mailto == "mailto:demo+unsubscribe@groups.localhost"
        v = {**job["vars"], **rcpt["vars"]}  # the job's shared, the recipient's own
        assert https == v["unsubscribe_url"]
        unsub = re.search(r"/unsubscribe/([^/]+)/", v["unsubscribe_url"]).group(1)
        assert tokens.check(tokens.UNSUBSCRIBE, unsub) == [str(member.pk)]
        mute = re.search(r"/([^/]+)/$", v["mute_url"]).group(1)
        assert tokens.check(tokens.MUTE_TOPIC, mute) == [str(member.pk), str(message.topic_id)]
        assert v["message_url"] == "http://testserver/g/demo/message/1/"
        assert v["reply_url"] == "http://testserver/g/demo/message/1/reply/"
        assert v["owner_address"] == "demo+owner@groups.localhost"
        assert v["number"] == 1 and v["email"] == member.email
        seen_tokens.add(unsub)
    assert len(seen_tokens) == len(job["recipients"]) == 3


def test_footer_renders_every_link_for_each_member(job):
    """The footer template, rendered as Karl does (sandboxed Jinja2), uses only known vars."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    template = env.from_string(job["footer"]["text"])
    for rcpt in job["recipients"]:
        variables = {**job["vars"], **rcpt["vars"]}  # as Karl merges them
        text = template.render(**variables)
        for key in ("message_url", "reply_url", "mute_url", "unsubscribe_url", "owner_address"):
            assert variables[key] in text
        assert "#1" in text


@pytest.mark.parametrize(("policy", "expected"), [
    (Group.ReplyTo.GROUP, "demo@groups.localhost"),
    (Group.ReplyTo.SENDER, "bob@example.org"),
    (Group.ReplyTo.MODERATORS, "demo+owner@groups.localhost"),
    (Group.ReplyTo.GROUP_AND_SENDER, "demo@groups.localhost, bob@example.org"),
])
def test_reply_to_per_group_setting(demo_group, policy, expected):
    Group.objects.filter(pk=demo_group.pk).update(reply_to=policy)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             mail("member_post.eml"))
    assert headers_of(job_for("demo", outcome.number))["Reply-To"] == expected


def test_bounce_address_is_per_member_and_message():
    a, b = fanout.bounce_address(7, 1), fanout.bounce_address(7, 2)
    assert a != b and a == a.lower() and "+" in a and a.count("@") == 1


@pytest.mark.skipif(importlib.util.find_spec("karl.__main__") is None,
                    reason="Karl (karl/__main__.py) is not written yet")
@pytest.mark.e2e
def test_delivered_copy_through_real_karl(tmp_path, dns_server):
    """A post from a p=reject domain over real SMTP, rendered and delivered by the real Karl."""
    import email
    import email.policy
    import smtplib

    from tests.e2e.platform import Platform
    from tests.messageserver.mailhandling.helpers import fixture

    platform = Platform(tmp_path).prepare()
    platform.env["DMARC_NAMESERVER"] = f"127.0.0.1:{dns_server[0].server.server_address[1]}"
    try:
        platform.manage("creategroup", "demo", "--owner", "alice@example.org",
                        "--title", "Demo group")
        platform.manage("addmembers", "demo", "Rita Strict <rita@example-reject.test>",
                        "dora@example.org")
        platform.start()
        with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
            client.sendmail("rita@example-reject.test", ["demo@groups.localhost"],
                            fixture("reject_domain_post.eml"))
        got = platform.sink.wait_for(3)
    finally:
        platform.stop()
    copies = {r.rcpt_tos[0]: (r, email.message_from_bytes(r.data, policy=email.policy.default))
              for r in got}
    envelope, dora = copies["dora@example.org"]
    assert envelope.mail_from.startswith("bounce+")
    assert dora["From"].addresses[0].display_name == "Rita Strict via demo"
    assert dora["From"].addresses[0].addr_spec == "demo@groups.localhost"
    assert dora["List-Id"] == "Demo group <demo.groups.localhost>"
    assert dora["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for name in ("From", "Subject", "Reply-To", "List-Id", "DKIM-Signature"):
        assert len(dora.get_all(name) or []) == 1, name
    assert "d=groups.localhost" in dora["DKIM-Signature"]
    assert not [k for k in dora.keys() if k.lower().startswith("arc-")]
    body = dora.get_body(("plain",)).get_content()
    assert "Unsubscribe: http" in body and "Mute This Topic: http" in body
