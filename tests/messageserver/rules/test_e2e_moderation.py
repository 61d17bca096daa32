"""End to end over real SMTP: a non-member's post is held, survives a kill -9 of
messageserver, is approved by the moderator's email reply, and reaches every member.

Real processes (smtpd, messageserver, and Karl when it is built) on loopback, smtplib
as the mail clients, the harness's aiosmtpd sink as the outside world. The test reads
the platform's database only through `manage.py shell`, a separate process.
"""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
import time
from email.utils import parseaddr

import pytest

from tests.conftest import mail

pytestmark = pytest.mark.e2e
MEMBERS = {"alice@example.org", "bob@example.org", "dora@example.org"}


def _send(platform, mail_from: str, rcpt: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail(mail_from, [rcpt], data)


def _query(platform, code: str):
    """Run ``code`` (which sets ``out``) in a manage.py shell; returns ``out`` from JSON."""
    script = f"import json\n{code}\nprint('@@' + json.dumps(out))"
    stdout = platform.manage("shell", "-c", script).stdout
    return json.loads(stdout.rsplit("@@", 1)[1])


HELD_STATE = """
from groups.models import HeldMessage
out = list(HeldMessage.objects.values_list("state", "nonmember", "sender_email"))
"""
APPROVE_ADDRESS = """
import base64, email
from groups.models import OutboxItem
out = []
for item in OutboxItem.objects.order_by("id"):
    if item.payload["meta"].get("kind") == "notice":
        msg = email.message_from_bytes(base64.b64decode(item.payload["message_b64"]))
        out.append([item.payload["recipients"][0]["address"], msg["Reply-To"] or ""])
"""
FANOUT = """
from groups.models import OutboxItem
out = [sorted(r["address"] for r in o.payload["recipients"])
       for o in OutboxItem.objects.order_by("id") if o.payload["meta"].get("kind") == "post"]
"""


def test_nonmember_post_held_approved_by_reply_and_delivered(platform):
    platform.manage("creategroup", "demo", "--owner", "alice@example.org", "--title", "Demo")
    platform.manage("addmembers", "demo", "Bob <bob@example.org>", "dora@example.org")
    platform.manage("shell", "-c", "from groups.models import Group; Group.objects.filter("
                                   "name='demo').update(nonmember_policy='hold')")
    services = ("smtpd", "messageserver", "karl")
    platform.start(*services)

    _send(platform, "charlie@example.net", "demo@groups.localhost", mail("nonmember_post.eml"))
    assert _query(platform, HELD_STATE) == [["pending", True, "charlie@example.net"]]

    platform.kill("messageserver")  # kill -9: only the database remembers
    platform.start("messageserver")
    [[moderator, reply_to]] = _query(platform, APPROVE_ADDRESS)
    assert moderator == "alice@example.org"
    approve = parseaddr(reply_to)[1]
    assert approve.startswith("demo+approve+")

    reply = (f"From: Alice <alice@example.org>\r\nTo: {approve}\r\n"
             "Subject: Re: [demo] Message held for approval: Buy my stuff\r\n"
             "Message-ID: <approve-1@example.org>\r\n\r\nFine by me.\r\n").encode()
    _send(platform, "alice@example.org", approve, reply)
    assert _query(platform, HELD_STATE)[0][0] == "approved"
    assert _query(platform, FANOUT) == [sorted(MEMBERS)]


    def delivered_posts() -> list:
        """Copies of the post at the sink (Karl also delivers the notices there)."""
        with platform.sink.lock:
            return [m for m in platform.sink.messages if b"List-Id:" in m.data
                    and b"Cheap stuff." in m.data]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len({r for m in delivered_posts() for r in m.rcpt_tos}) >= len(MEMBERS):
            break
        time.sleep(0.1)
    posts = delivered_posts()
    assert sorted(r for m in posts for r in m.rcpt_tos) == sorted(MEMBERS)  # one copy each
    for copy in posts:
        msg = email.message_from_bytes(copy.data, policy=email.policy.default)
        assert "Buy my stuff" in msg["Subject"]
        assert msg["List-Id"].endswith("<demo.groups.localhost>")
