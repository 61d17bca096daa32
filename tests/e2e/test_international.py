"""International posts through the real processes: smtpd, messageserver, karl, a relay.

The end-to-end twin of tests/messageserver/mailhandling/test_properties.py (#15): Hypothesis
draws posts in many scripts, charsets and transfer encodings; each is sent
with smtplib to the real smtpd, archived by the real messageserver, delivered
by the real Karl to an aiosmtpd relay (which does not offer SMTPUTF8, so 8-bit
headers must arrive RFC 2047-encoded). Every copy must parse without defects,
verify with dkimpy against the key ``manage.py dkimkey --show`` publishes, and
read back the subject (with the tag), the sender's name and the text. One
platform serves every example.
"""

from __future__ import annotations

import os
import smtplib

import dkim
import pytest
from hypothesis import HealthCheck, given, settings

from tests.e2e.platform import Platform
from tests.e2e.test_core_path import _dns_from_dkimkey_show
from tests.intlmail import IntlPost, intl_posts
from tests.messageserver.mailhandling.karlcopy import check_parsed, display_name, subject

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("E2E_PROPERTY_EXAMPLES", "60"))
MEMBERS = ["alice@example.org", "bob@example.org", "carol@example.org"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    p = Platform(tmp_path_factory.mktemp("intl")).prepare()
    try:
        p.manage("creategroup", "demo", "--owner", "alice@example.org", "--title", "Demo")
        p.manage("addmembers", "demo", "Bob <bob@example.org>", "carol@example.org")
        p.manage("shell", "-c", "from groups.models import Group; Group.objects.filter("
                 "name='demo').update(subject_tag='Demo', dmarc_handling='always')")
        _, dnsfunc = _dns_from_dkimkey_show(p.manage("dkimkey", "--show").stdout)
        p.start("smtpd", "messageserver", "karl")
        yield p, dnsfunc
    finally:
        p.stop()


def lines(text: str) -> str:
    return text.replace("\r\n", "\n").strip("\n")


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(post=intl_posts)
def test_international_posts_arrive_intact_through_the_real_processes(world, post: IntlPost):
    platform, dnsfunc = world
    platform.sink.clear()
    with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=30) as client:
        refused = client.sendmail("bob@example.org", ["demo@groups.localhost"], post.raw(),
                                  mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert not refused
    received = platform.sink.wait_for(len(MEMBERS), timeout=60)
    assert sorted(r for m in received for r in m.rcpt_tos) == MEMBERS
    for copy in received:
        head = copy.data.split(b"\r\n\r\n", 1)[0]
        assert head.isascii(), "8-bit headers to a relay without SMTPUTF8"
        msg = check_parsed(copy.data)
        assert dkim.verify(copy.data, dnsfunc=dnsfunc), "DKIM does not verify"
        assert subject(msg) == f"[Demo] {post.expected_subject}"
        assert display_name(msg) == f"{post.expected_name} via demo"
        text = lines(msg.get_body(preferencelist=("plain",)).get_content())
        assert text.startswith(post.text + "\n"), (text, post.text)
