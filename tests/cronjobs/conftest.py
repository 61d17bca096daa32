"""Helpers for the scheduled jobs' tests: posts made through the real pipeline at a given time."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime

import pytest

T0 = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # a Monday, just after midnight UTC


def post(group, sender: str, subject: str, text: str, now: datetime,
         reply_to=None) -> int:
    """Post as ``sender`` by email through messageserver; returns the message number."""
    from messageserver import pipeline, posts

    raw = posts.compose(group, sender, "", subject, text, reply_to=reply_to)
    [(_, outcome)] = pipeline.handle_inbound(sender, [group.post_address], raw, now=now)
    assert outcome.kind == "accepted", outcome
    return outcome.number


def jobs(kind: str | None = None) -> list[dict]:
    """The Karl jobs queued in the outbox (optionally only those of one meta kind); posts'
    jobs are built first, as messageserver's dispatcher would (tests.conftest.built_jobs)."""
    from groups.models import OutboxItem
    from tests.conftest import built_jobs

    built_jobs()
    payloads = [o.payload for o in OutboxItem.objects.filter(kind__in=["job", "mail"])
                .order_by("id")]
    return [p for p in payloads if kind is None or p.get("meta", {}).get("kind") == kind]


def parsed(job: dict) -> email.message.EmailMessage:
    return email.message_from_bytes(base64.b64decode(job["message_b64"]),
                                    policy=email.policy.default)


@pytest.fixture
def digest_group(demo_group):
    """demo with carol (full digest), dave (plain digest), erin (summary) added."""
    from groups.membership import add_members
    from groups.models import Membership

    add_members(demo_group, ["Carol Digest <carol@example.org>"],
                delivery=Membership.Delivery.DIGEST)
    add_members(demo_group, ["dave@example.org"], delivery=Membership.Delivery.PLAIN_DIGEST)
    add_members(demo_group, ["erin@example.org"], delivery=Membership.Delivery.SUMMARY)
    Membership.objects.filter(group=demo_group).update(joined_at=datetime(2026, 1, 1, tzinfo=UTC))
    return demo_group


@pytest.fixture
def feed_server(monkeypatch):
    """A feed server on loopback; the crawler may fetch from it only with FEED_ALLOW_PRIVATE."""
    from tests.cronjobs.feedserver import FeedServer, start

    monkeypatch.setenv("FEED_ALLOW_PRIVATE", "true")

    state = FeedServer()
    httpd = start(state)
    yield state
    httpd.shutdown()
    httpd.server_close()
