"""parse_bounce's contract beyond the corpus: never raise, same answer over SMTP's CRLF,
the report's shape and JSON, and the hard/soft rule on its own."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from messageserver.bounces import BounceReport, parse_bounce
from messageserver.bounces.verdict import kind_for
from tests.messageserver.bounces.corpus import corpus_dir, load_expected

ENTRIES = load_expected()
KINDS = {"bounce", "warning", "autoreply", "delivery-report", "complaint", "none"}


def _raw(name: str) -> bytes:
    return (corpus_dir() / name).read_bytes()


def _assert_valid(report: BounceReport) -> None:
    assert isinstance(report, BounceReport)
    assert report.kind in KINDS
    if report.kind != "bounce":
        assert report.recipients == ()
    for recipient in report.recipients:
        assert "@" in recipient.address
        assert recipient.kind in ("hard", "soft")
    json.dumps(report.to_json())


@pytest.mark.parametrize("raw", [
    b"", b"\x00\xff\xfe", b"From: x\n\n", b"Content-Type: multipart/report; boundary=\"\n\n--",
    b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\nAction: failed\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n" + b"--b\nContent-Type: multipart/mixed;"
    b" boundary=b\n\n" * 400,
    "Subject: =?utf-8?q?=E2=9C=93?= \udcff".encode("utf-8", "surrogateescape"),
])
def test_garbage_never_raises(raw: bytes) -> None:
    _assert_valid(parse_bounce(raw))


def test_fuzzed_corpus_never_raises() -> None:
    """Truncated, bit-flipped and shuffled versions of real bounces still get an answer."""
    rng = random.Random(6)
    files = [e["file"] for e in ENTRIES if e["category"] in ("bounce", "complaint", "warning")]
    for name in rng.sample(files, 40):
        raw = _raw(name)
        cut = raw[: rng.randrange(len(raw))]
        flipped = bytearray(raw)
        for _ in range(30):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        lines = raw.split(b"\n")
        rng.shuffle(lines)
        for variant in (cut, bytes(flipped), b"\n".join(lines), raw[len(raw) // 2:]):
            _assert_valid(parse_bounce(variant))


def test_crlf_line_ends_give_the_same_report() -> None:
    """Bounces arrive over SMTP with CRLF; the corpus files mostly have LF."""
    for entry in ENTRIES[::7]:
        raw = _raw(entry["file"])
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert parse_bounce(crlf).recipients == parse_bounce(raw).recipients, entry["file"]


def test_report_shape_and_json() -> None:
    report = parse_bounce(_raw("sisimai/lhost-outlook-04.eml"))
    assert dataclasses.is_dataclass(report)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.kind = "none"  # type: ignore[misc]
    data = report.to_json()
    assert data["type"] == "bounce"
    assert {r["address"] for r in data["recipients"]} == {
        "sabineko@example.co.jp", "mikeneko@example.co.jp"}
    assert set(data["recipients"][0]) == {"address", "kind", "status", "diagnostic"}


def test_bounce_names_the_message_that_bounced() -> None:
    """The returned headers' Message-ID lets the lead find which post bounced."""
    report = parse_bounce(_raw("sisimai/lhost-qmail-04.eml"))
    assert report.kind == "bounce"
    assert report.original_message_id == "<00000000.000000000@example.jp>"


def test_complaint_names_who_complained() -> None:
    report = parse_bounce(_raw("complaints/arf-01.eml"))
    assert report.kind == "complaint" and report.recipients == ()
    assert report.complaint is not None
    assert report.complaint.feedback_type == "abuse"
    assert report.complaint.original_recipients


@pytest.mark.parametrize(("status", "words", "kind"), [
    ("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", "hard"),
    ("5.2.2", "552 5.2.2 Mailbox full", "soft"),
    ("5.1.1", "550 5.1.1 mailbox is over quota", "soft"),
    ("5.1.2", "Host or domain name not found", "hard"),
    ("5.7.1", "554 5.7.1 Message rejected as spam", "soft"),
    ("4.4.7", "Message expired: unable to deliver in 840 minutes", "soft"),
    (None, "sorry, no mailbox here by that name", "hard"),
    (None, "", "soft"),
    ("5.1.10", "Recipient domain publishes a null MX", "hard"),
    ("5.1.8", "553 5.1.8 Domain of sender address does not exist", "soft"),
])
def test_hard_only_when_the_address_is_wrong(status, words, kind) -> None:
    assert kind_for(status, words) == kind


def test_hostile_sizes_stay_fast() -> None:
    """Long runs that would make naive regexes quadratic (no "@", repeated keywords)."""
    import time

    head = b"From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail\n\n"
    started = time.monotonic()
    for body in (b"error " * 200_000, b"x" * 3_000_000, b"exceeded " * 100_000,
                 b"<script>" + b"a" * 500_000):
        _assert_valid(parse_bounce(head + body))
    assert time.monotonic() - started < 20
