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
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cronjobs import digestmime, digests
from groups.models import Group, Membership, Message, OutboxItem, RawMessage
from karl.compose import Composer
from karl.dkimsign import load_key
from messageserver import mailparse, notices, pipeline
from tests.intlmail import HeaderForm, IntlPost, intl_posts, script_text
from tests.karl.conftest import DOMAIN, _shared_key, dnsfunc_for
from tests.messageserver.mailhandling.helpers import job_for
from tests.messageserver.mailhandling.karlcopy import (
    check_copy,
    copies,
    display_name,
    signed_copies,
    subject,
)

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def lines(text: str) -> str:
    return text.replace("\r\n", "\n").strip("\n")


@pytest.fixture
def demo(demo_group, monkeypatch):
    # every example asks for help again: lift the hourly cap on command replies
    monkeypatch.setenv("COMMAND_REPLIES_PER_HOUR", "1000000")
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


# --- notices and digests: the platform's own mail, titles and subjects in any script

NOTICE_EXAMPLES = max(1, EXAMPLES // 3)
DIGEST_EXAMPLES = max(1, EXAMPLES // 6)
# Digest bodies are checked for the subjects' text, HTML's specials included: the
# plain digest must never HTML-escape them (#15 item 4).
DIGEST_PUNCT = " .,!?-:()/&<>'\""


def notice_jobs(since: int) -> list[dict]:
    return [o.payload for o in OutboxItem.objects.filter(kind="job", pk__gt=since)
            .order_by("pk") if o.payload.get("meta", {}).get("kind") == "notice"]


def last_outbox() -> int:
    return OutboxItem.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@settings(PROPERTY, max_examples=NOTICE_EXAMPLES)
@given(title=script_text(max_size=80), post=intl_posts, name=script_text(max_size=60))
@example(title="Tom & Jerry's <Fan> Club", name='Dora "D" Ünal',
         post=IntlPost("Rock 'n' Roll & <Blues>", "Bob", "hi", HeaderForm("raw", "utf-8"),
                       "utf-8", "8bit", True))
def test_notices_in_any_script_reach_their_readers_intact(demo, title: str, post: IntlPost,
                                                          name: str):
    """Held (to moderators and poster), welcome and a command reply (help)."""
    Group.objects.filter(pk=demo.pk).update(title=title,
                                            posting_policy=Group.PostingPolicy.MODERATED)
    demo.refresh_from_db()
    since = last_outbox()
    [(_, held)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                          post.raw())
    assert held.kind == "held", held
    member = Membership.objects.get(group=demo, email="dora@example.org")
    Membership.objects.filter(pk=member.pk).update(display_name=name[:150])
    member.refresh_from_db()
    notices.welcome(member)
    help_request = IntlPost(post.subject, name, "help", post.form, "utf-8", "8bit", True)
    [(_, helped)] = pipeline.handle_inbound("dora@example.org", ["demo+help@groups.localhost"],
                                            help_request.raw("dora@example.org",
                                                             "demo+help@groups.localhost"))
    assert helped.kind == "accepted", helped
    expected = {
        f"[demo] Message held for approval: {post.expected_subject}",
        f"[demo] Your message is awaiting approval: {post.expected_subject}",
        f"[demo] Welcome to {demo.display_title}",
        f"[demo] Help for {demo.display_title}",
    }
    seen = set()
    for job in notice_jobs(since):
        for data in copies(job):
            msg = check_copy(data)
            seen.add(subject(msg))
            assert display_name(msg) == demo.display_title
            assert msg.get_body(preferencelist=("plain",)).get_content().strip()
    assert expected <= seen, expected - seen


@settings(PROPERTY, max_examples=DIGEST_EXAMPLES)
@given(title=script_text(max_size=80, punct=DIGEST_PUNCT),
       posts=st.lists(intl_posts, min_size=1, max_size=3),
       subjects=st.lists(script_text(max_size=120, punct=DIGEST_PUNCT), min_size=3,
                         max_size=3))
def test_digests_in_any_script_reach_their_readers_intact(demo, title: str, posts, subjects):
    """Plain (RFC 1153), MIME and summary digests of international posts."""
    Group.objects.filter(pk=demo.pk).update(title=title)
    demo.refresh_from_db()
    numbers = []
    for post, subj in zip(posts, subjects, strict=False):
        post.subject = subj
        [(_, outcome)] = pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"],
                                                 post.raw())
        assert outcome.kind == "accepted", outcome
        numbers.append(outcome.number)
    messages = list(Message.objects.filter(group=demo, number__in=numbers).order_by("number"))
    raws = {m.number: bytes(RawMessage.objects.get(message=m).data) for m in messages}
    members = list(Membership.objects.filter(group=demo).order_by("pk"))
    now = timezone.now()
    for kind in digestmime.KINDS:
        raw = digestmime.build(kind, demo, messages, raws, now)
        job = digests.job_for(demo, kind, raw, members, numbers[-1])
        entries = digestmime.entries_of(demo, messages)
        wanted = digestmime.digest_subject(demo, kind, entries, now)
        assert wanted.startswith(f"[Demo] {demo.display_title} ")
        for data in copies(job):
            msg = check_copy(data)
            assert subject(msg) == wanted
            assert display_name(msg) == demo.display_title
            if kind == "plain_digest":
                text = msg.get_body(preferencelist=("plain",)).get_content()
                for m in messages:
                    assert f"Subject: {m.subject}" in text
            elif kind == "digest":
                inner = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"]
                got = [" ".join(str(p.get_payload(0)["Subject"]).split()) for p in inner]
                assert got == [m.subject for m in messages]


# --- the one parse: canonical() is stable and keeps the body's bytes

header_lines = st.lists(st.one_of(
    st.from_regex(r"\A[A-Za-z][A-Za-z-]{0,15}[ \t]{0,2}: [ -~]{0,40}\Z"),
    st.from_regex(r"\A[ \t][ -~]{1,30}\Z"),  # a continuation
    st.just("Content-Type: multipart/mixed; boundary=----=_NextPart_000_0012"),
    st.just("Message-ID: <kept@example.org>"),
), max_size=8)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(lines=header_lines, body=st.binary(max_size=200), crlf=st.booleans())
def test_canonical_is_stable_and_keeps_the_body(lines, body, crlf):
    eol = b"\r\n" if crlf else b"\n"
    raw = eol.join(line.encode() for line in lines) + eol + eol + body
    once = mailparse.canonical(raw, msgid_domain="groups.localhost")
    assert mailparse.canonical(once, msgid_domain="groups.localhost") == once
    assert once.endswith(body)
    msg = mailparse.parse_bytes(once)
    assert len(msg.get_all("Message-ID") or []) == 1
    if any(line.startswith("Content-Type: multipart") for line in lines[:1]):
        assert msg.get_boundary() == "----=_NextPart_000_0012"
