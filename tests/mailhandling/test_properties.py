"""Property tests: international mail from SMTP bytes to every signed copy (#15).

Hypothesis draws posts whose subjects and display names come from many
scripts (tests/intlmail.py) and whose bodies use many charsets and transfer
encodings. Each goes through the real messageserver pipeline (parse, archive,
fan-out job) and Karl's real contract and composer (karlcopy.py); every copy
must parse without defects, verify with dkimpy, and read back the original
subject (with the tag), sender name and text. Where a copy carries 8-bit
headers, its RFC 2047 twin for relays without SMTPUTF8 must do the same.

The end-to-end twin of this test, through the real processes, is
tests/e2e/test_international.py.
"""

from __future__ import annotations

import email
import email.policy
import os

import dkim
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groups.models import Group, Message
from karl.compose import Composer
from karl.dkimsign import load_key
from messageserver import pipeline
from tests.intlmail import IntlPost, intl_posts
from tests.karl.conftest import DOMAIN, _shared_key, dnsfunc_for
from tests.mailhandling.helpers import job_for
from tests.mailhandling.karlcopy import check_copy, display_name, signed_copies, subject

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def lines(text: str) -> str:
    return text.replace("\r\n", "\n").strip("\n")


@pytest.fixture
def demo(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(subject_tag="Demo")
    return demo_group


@PROPERTY
@given(post=intl_posts, rewrite=st.booleans())
def test_international_posts_reach_every_member_intact(demo, post: IntlPost, rewrite: bool):
    Group.objects.filter(pk=demo.pk).update(
        dmarc_handling=Group.DmarcHandling.ALWAYS if rewrite else Group.DmarcHandling.NEVER)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                             post.raw())
    assert outcome.kind == "accepted", outcome
    message = Message.objects.get(group=demo, number=outcome.number)
    assert message.subject == post.expected_subject
    assert message.sender_name == post.expected_name
    assert lines(message.body_text) == post.text
    name = f"{post.expected_name} via demo" if rewrite else post.expected_name
    copies = signed_copies(job_for("demo", message.number))
    assert len(copies) == 3
    for copy in copies:
        forms = [bytes(copy)] + ([copy.seven_bit] if copy.seven_bit is not None else [])
        if copy.seven_bit is not None:
            assert copy.seven_bit.split(b"\r\n\r\n", 1)[0].isascii()
        for data in forms:
            msg = check_copy(data)
            assert subject(msg) == f"[Demo] {post.expected_subject}"
            assert display_name(msg) == name
            assert msg["Message-ID"] == message.message_id
            text = lines(msg.get_body(preferencelist=("plain",)).get_content())
            assert text.startswith(post.text + "\n"), (text, post.text)


def test_property_checks_catch_a_broken_signature():
    """The checker itself: a copy changed after signing fails dkimpy."""
    raw = (b"From: a@example.org\r\nSubject: x\r\nMessage-ID: <1@x>\r\n\r\nhello\r\n")
    key = load_key(_shared_key().read_bytes(), DOMAIN, "groups")
    out = bytes(Composer(raw, keys=[key], domain=DOMAIN).compose())
    assert dkim.verify(out, dnsfunc=dnsfunc_for(_shared_key()))
    assert not dkim.verify(out.replace(b"hello", b"jello"), dnsfunc=dnsfunc_for(_shared_key()))
    assert email.message_from_bytes(out, policy=email.policy.default)["Subject"] == "x"
