"""Bulk delivery end to end: SMTP in, one signed copy out per domain, a real DSN back.

Real processes on loopback (web, smtpd, messageserver, karl, errord), a real
aiosmtpd server as Karl's relay, smtplib as the mail clients (the poster's and
the remote MTA returning a bounce), dkimpy as the independent verifier.
"""

from __future__ import annotations

import email
import email.policy
import smtplib

import dkim
import pytest

from tests.conftest import CORPORA, mail
from tests.e2e.test_core_path import _dns_from_dkimkey_show

pytestmark = pytest.mark.e2e

# sisimai/lhost-outlook-04.eml reports these two as failed (one hard, one soft)
BOUNCED = ["sabineko@example.co.jp", "mikeneko@example.co.jp"]


def test_a_bulk_group_post_goes_out_once_per_domain_and_its_dsn_finds_the_members(platform):
    platform.manage("creategroup", "news", "--owner", "alice@example.org", "--title", "News")
    platform.manage("addmembers", "news", "Bob <bob@example.org>", "dave@example.net", *BOUNCED)
    platform.manage("shell", "-c", "from groups.models import Group; "
                    "Group.objects.filter(name='news').update(bulk_delivery=True)")
    _, dnsfunc = _dns_from_dkimkey_show(platform.manage("dkimkey", "--show").stdout)
    platform.start()

    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        client.sendmail("bob@example.org", ["news@groups.localhost"],
                        mail("member_post.eml").replace(b"demo@groups.localhost",
                                                        b"news@groups.localhost"))
    members = ["alice@example.org", "bob@example.org", "dave@example.net", *BOUNCED]
    received = platform.sink.wait_for(3)  # example.co.jp, example.net, example.org
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(members)
    assert sorted(sorted(m.rcpt_tos) for m in received) == sorted([
        sorted(BOUNCED), ["alice@example.org", "bob@example.org"], ["dave@example.net"]])
    assert len({m.data for m in received}) == 1  # the one copy
    assert len({m.mail_from for m in received}) == 1  # the one return path
    return_path = received[0].mail_from
    assert return_path.startswith("bounce+") and return_path.endswith("@groups.localhost")
    copy = received[0].data
    assert copy.count(b"DKIM-Signature:") == 1 and dkim.verify(copy, dnsfunc=dnsfunc)
    msg = email.message_from_bytes(copy, policy=email.policy.default)
    assert msg["List-Unsubscribe"] == "<mailto:news+unsubscribe@groups.localhost>"
    assert msg["List-Unsubscribe-Post"] is None
    body = msg.get_body(("plain",)).get_content()
    assert "this is my first post" in body
    assert "Unsubscribe: mailto:news+unsubscribe@groups.localhost" in body

    # A remote MTA returns a DSN to the group's return path: no VERP, the report names them.
    dsn = (CORPORA / "bounces/sisimai/lhost-outlook-04.eml").read_bytes()
    dsn = dsn.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as it travels over SMTP
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        assert client.sendmail("", [return_path], dsn) == {}
    shown = platform.manage("shell", "-c", "from groups.models import BounceEvent as B; "
                            "print(sorted((e.membership.email, e.kind, e.source) "
                            "for e in B.objects.select_related('membership')))").stdout
    # the last line: Django's shell may first say what it imported
    assert shown.strip().splitlines()[-1] == str(sorted([("mikeneko@example.co.jp", "soft", "dsn"),
                                        ("sabineko@example.co.jp", "hard", "dsn")]))
