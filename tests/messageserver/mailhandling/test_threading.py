"""Threading on real list archives, and Groups.io's subject windows.

Every mbox in tests/corpora/archives is imported in date order through the
archive path; then each message is checked against the rules: it joins the
topic of the first message its In-Reply-To/References name that was already
archived; failing that, a topic with the same cleaned subject active within
30 days (Re:) or 2 days (other subjects), the most recently active one; or it
starts a new topic, and only when no such topic existed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from groups.models import Group, Message, Topic
from messageserver import pipeline, posts, threader
from tests.conftest import CORPORA
from tests.messageserver.mailhandling.mboximport import Imported, expected_topics, import_mbox

ARCHIVES = CORPORA / "archives"
EXPECTED = {row["file"]: row for row in map(
    json.loads, (ARCHIVES / "expected.jsonl").read_text().splitlines()) if row}
# The three maven-dev months are the same messages; one is enough for the rules.
SLOW_TWINS = {"ponymail/maven-dev-2017-11-listsao.mbox",
              "ponymail/maven-dev-2017-11-mailarchivesao.mbox"}
FILES = sorted(f for f in EXPECTED if f not in SLOW_TWINS)


def check_rules(imported: list[Imported], group: Group) -> dict[str, int]:
    """Assert each message's topic against the rules; returns how often each rule applied."""
    counts = {"references": 0, "subject": 0, "new": 0}
    seen: dict[str, set[int]] = {}  # message id -> topics of messages archived so far
    for item in imported:
        msg = item.message
        parents = [mid for mid in item.chain if mid in seen]
        if parents:
            assert msg.topic_id in seen[parents[0]], (
                f"#{item.position} {msg.message_id} names {parents[0]} but is in another topic")
            counts["references"] += 1
        else:
            key = threader.normalize_subject(item.subject, group.subject_tag)
            window = (threader.REPLY_WINDOW if threader.is_reply_subject(item.subject)
                      else threader.NEW_SUBJECT_WINDOW)
            live = [(last, tid) for tid, (subject, last) in item.topics_before.items()
                    if key and subject == key and last >= msg.created_at - window]
            if live:
                assert msg.topic_id == max(live)[1], (
                    f"#{item.position} {msg.subject!r} should join topic {max(live)[1]}")
                counts["subject"] += 1
            else:
                assert msg.topic_id not in item.topics_before, (
                    f"#{item.position} {msg.subject!r} joined a topic outside the windows")
                counts["new"] += 1
        seen.setdefault(msg.message_id, set()).add(msg.topic_id)
    return counts


@pytest.mark.parametrize("name", FILES)
def test_archive_threads_by_references_then_subject_windows(db, name):
    group = Group.objects.create(name="archive")
    # imaptest's expectation is about the first N messages (later script steps append)
    imported = import_mbox(group, ARCHIVES / name, EXPECTED[name]["messages"])
    assert len(imported) == EXPECTED[name]["messages"]  # none lost, none split
    assert Message.objects.filter(group=group).count() == EXPECTED[name]["messages"]
    counts = check_rules(imported, group)
    topics = Topic.objects.filter(group=group)
    assert sum(t.message_count for t in topics) == len(imported)
    assert topics.count() == counts["new"]
    if name == "ponymail/maven-dev-2017-11-mboxvm.mbox":
        # a real month of a busy list: most messages are replies found by References
        assert counts["references"] > len(imported) / 2 and counts["new"] > 20


@pytest.mark.parametrize("name", [f for f, row in EXPECTED.items()
                                  if row.get("algorithm") == "REFERENCES"
                                  and f not in ("imaptest-threads/thread5.mbox",
                                                "imaptest-threads/thread6.mbox")]
                         + ["imaptest-threads/thread-orderedsubject.mbox",
                            "imaptest-threads/thread-orderedsubject2.mbox"])
def test_imaptest_threads(db, name):
    """imaptest's expected threads, where IMAP's THREAD and Groups.io's rules agree.

    Left out: thread5, whose replies are dated two hours before their parent
    (IMAP threads a whole mailbox at once; we thread mail as it arrives, and a
    reply that comes before its parent starts a topic), and thread6, where two
    messages share a Message-ID and name no parent (IMAP threads them together;
    a duplicate ID is not a reference). The ORDEREDSUBJECT cases hold RFC 5256's
    base-subject rules: other lists' [tags], "(fwd)" trailers, "[fwd: ...]" wrappers.
    """
    group = Group.objects.create(name="imaptest")
    row = EXPECTED[name]
    imported = import_mbox(group, ARCHIVES / name, row["messages"])
    check_rules(imported, group)
    by_topic: dict[int, list[int]] = {}
    for item in imported:
        by_topic.setdefault(item.message.topic_id, []).append(item.position)
    assert sorted(map(sorted, by_topic.values())) == sorted(map(sorted, expected_topics(row, ARCHIVES / name)))


# --- the windows, one by one ------------------------------------------------------

def _post(group: Group, subject: str, now: datetime, *, tag: str = "") -> Message:
    raw = posts.compose(group, "bob@example.org", "Bob Member", subject, "text")
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [group.post_address], raw,
                                             now=now)
    assert outcome.kind == "accepted", outcome
    return Message.objects.get(group=group, number=outcome.number)


@pytest.mark.parametrize(("subject", "after", "joins"), [
    ("Re: Picnic on Saturday", timedelta(days=29), True),
    ("Re: Picnic on Saturday", timedelta(days=31), False),
    ("AW: Picnic on Saturday", timedelta(days=20), True),
    ("SV: Re: Fwd: Picnic on Saturday", timedelta(days=20), True),
    ("Picnic on Saturday", timedelta(days=1, hours=23), True),
    ("Picnic on Saturday", timedelta(days=2, hours=1), False),
    ("Fwd: Picnic on Saturday", timedelta(days=3), False),  # a forward is not a reply
    ("[Demo] Re: picnic ON saturday", timedelta(days=10), True),  # tag and case ignored
    # RFC 5256 base subject: other lists' tags, "(fwd)" trailers, "[fwd: ...]" wrappers
    ("[hikers-l] Re: [Demo] Picnic on Saturday (fwd)", timedelta(days=20), True),
    ("Re: [Fwd: Picnic on Saturday]", timedelta(days=20), True),
    ("Re[2]: Picnic on Saturday", timedelta(days=20), True),
    ("[PATCH] Picnic on Saturday", timedelta(days=1), True),
    ("[other] Fwd: Picnic on Saturday", timedelta(days=3), False),  # still a forward
    ("Ad: Picnic on Saturday", timedelta(hours=1), False),  # not a reply prefix anywhere
])
def test_subject_only_replies_within_the_windows(demo_group, subject, after, joins):
    Group.objects.filter(pk=demo_group.pk).update(subject_tag="Demo")
    demo_group.refresh_from_db()
    start = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
    first = _post(demo_group, "Picnic on Saturday", start)
    reply = _post(demo_group, subject, start + after)
    assert (reply.topic_id == first.topic_id) is joins
