"""senddigests over a simulated day: who gets what, when, and never twice. Checked by parsing MIME."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronjobs.config import DigestSettings
from cronjobs.digests import send_digests
from groups.models import DigestRun, Membership, TopicPreference, User
from tests.cronjobs.conftest import jobs, parsed, post

DAY = datetime(2026, 11, 23, tzinfo=UTC)
CFG = DigestSettings()


def _by_address(kind: str) -> dict[str, dict]:
    return {r["address"]: j for j in jobs(kind) for r in j["recipients"]}


def test_each_kind_goes_out_at_midnight_with_the_days_messages(digest_group):
    first = post(digest_group, "bob@example.org", "Picnic on Saturday", "Who's coming?\n",
                 DAY + timedelta(hours=10))
    post(digest_group, "alice@example.org", "Re: Picnic on Saturday",
         "> Who's coming?\n\nI am, with a cake.\n------------------------------\nsigned\n",
         DAY + timedelta(hours=11))
    post(digest_group, "dora@example.org", "Lost keys", "Found a set of keys by the door.\n",
         DAY + timedelta(hours=12))

    assert send_digests(DAY + timedelta(hours=15), CFG).sent == []  # not their hour yet
    report = send_digests(DAY + timedelta(days=1, minutes=5), CFG)
    assert sorted((p.membership.email, p.kind, p.numbers[0], p.numbers[-1])
                  for p in report.sent) == [
        ("carol@example.org", "digest", first, first + 2),
        ("dave@example.org", "plain_digest", first, first + 2),
        ("erin@example.org", "summary", first, first + 2)]

    # the full-featured digest: an HTML table of contents, then the originals
    job = _by_address("digest")["carol@example.org"]
    msg = parsed(job)
    assert msg.get_content_type() == "multipart/mixed"
    toc, inner = msg.get_payload()
    assert toc.get_content_type() == "text/html"
    html = toc.get_content()
    assert "<table" in html and "Picnic on Saturday" in html and "Lost keys" in html
    assert f'href="http://testserver/g/demo/message/{first + 2}/"' in html
    assert inner.get_content_type() == "multipart/digest"
    parts = inner.get_payload()
    assert [p.get_content_type() for p in parts] == ["message/rfc822"] * 3
    originals = [p.get_payload()[0] for p in parts]
    assert [o["Subject"] for o in originals] == ["Picnic on Saturday", "Re: Picnic on Saturday",
                                                 "Lost keys"]
    assert originals[2].get_content().strip() == "Found a set of keys by the door."
    assert msg["Subject"].startswith("Demo group Digest #")

    # the plain digest, RFC 1153: contents, 70 dashes, messages split by 30 dashes
    plain = parsed(_by_address("plain_digest")["dave@example.org"])
    assert plain.get_content_type() == "text/plain"
    text = plain.get_content().replace("\r\n", "\n")
    preamble, _, rest = text.partition("\n" + "-" * 70 + "\n")
    assert "Picnic on Saturday" in preamble and "Lost keys" in preamble
    chunks = rest.split("\n" + "-" * 30 + "\n")
    assert len(chunks) == 4  # three messages, then the trailer
    assert "Subject: Re: Picnic on Saturday" in chunks[1]
    assert "\n " + "-" * 30 + "\n" in chunks[1]  # the body's own separator line was escaped
    assert chunks[3].strip().startswith("End of Demo group Digest")
    assert chunks[3].strip().endswith("*" * len("End of Demo group Digest"))

    # the daily summary: subjects, authors, first lines, links
    summary = parsed(_by_address("summary")["erin@example.org"])
    assert summary.get_content_type() == "multipart/alternative"
    text_part = summary.get_body(("plain",)).get_content()
    assert "I am, with a cake." in text_part  # the first line, quote skipped
    assert "Found a set of keys by the door." in text_part
    assert f"http://testserver/g/demo/message/{first + 1}/" in text_part
    html_part = summary.get_body(("html",)).get_content()
    assert "Lost keys" in html_part and "<a href=" in html_part

    # delivery like any post: List headers, per-member unsubscribe and VERP, a footer
    for kind, address in [("digest", "carol@example.org"), ("plain_digest", "dave@example.org"),
                          ("summary", "erin@example.org")]:
        job = _by_address(kind)[address]
        headers = dict(job["headers"])
        assert headers["List-Id"] == "Demo group <demo.groups.localhost>"
        [rcpt] = job["recipients"]
        assert rcpt["mail_from"].startswith("bounce+") and "/unsubscribe/" in rcpt["headers"][0][1]
        assert "{{ unsubscribe_url }}" in job["footer"]["text"]
        assert job["meta"] == {"group": "demo", "kind": kind, "number": first + 2}

    # run again in the same hour, and the next hour: nothing twice
    assert send_digests(DAY + timedelta(days=1, minutes=20), CFG).sent == []
    assert send_digests(DAY + timedelta(days=1, hours=1), CFG).sent == []
    assert len(jobs()) == len([j for j in jobs() if j["meta"]["kind"] == "post"]) + 3
    assert DigestRun.objects.count() == 3


def test_twelve_messages_send_a_digest_early_but_never_two_in_an_hour(digest_group):
    noon = DAY + timedelta(hours=12)
    numbers = [post(digest_group, "bob@example.org", f"Busy topic {i}", f"Message {i}\n",
                    noon + timedelta(minutes=i)) for i in range(25)]
    report = send_digests(noon + timedelta(hours=1), CFG)
    sent = sorted((p.membership.email, p.numbers[0], p.numbers[-1]) for p in report.sent)
    # one digest each holding all 25, not two of twelve; the summary waits for midnight
    assert sent == [("carol@example.org", numbers[0], numbers[24]),
                    ("dave@example.org", numbers[0], numbers[24])]
    digest_jobs = jobs("digest")
    assert len(digest_jobs) == 1 and len(digest_jobs[0]["recipients"]) == 1
    parts = parsed(digest_jobs[0]).get_payload()[1].get_payload()
    assert len(parts) == 25
    assert send_digests(noon + timedelta(hours=1), CFG).sent == []
    # twelve more gather within the same hour: they wait for the next hour's run
    more = [post(digest_group, "bob@example.org", f"More {i}", "more\n",
                 noon + timedelta(hours=1, minutes=5 + i)) for i in range(12)]
    assert send_digests(noon + timedelta(hours=1, minutes=30), CFG).sent == []
    later = send_digests(noon + timedelta(hours=2), CFG)
    assert sorted((p.membership.email, p.numbers) for p in later.sent) == [
        ("carol@example.org", more), ("dave@example.org", more)]
    # a busy day gives several: at midnight the rest, and the summary with all of them
    last = post(digest_group, "bob@example.org", "Evening", "bye\n", noon + timedelta(hours=8))
    late = send_digests(DAY + timedelta(days=1), CFG)
    assert sorted((p.membership.email, p.numbers[0], len(p.numbers)) for p in late.sent) == [
        ("carol@example.org", last, 1), ("dave@example.org", last, 1),
        ("erin@example.org", numbers[0], 38)]


def test_after_a_scheduler_outage_each_member_gets_one_catch_up_digest_an_hour(digest_group):
    """Three days without the scheduler: no burst, nothing lost, nothing twice."""
    cfg = DigestSettings(max_messages=40)
    first = post(digest_group, "bob@example.org", "Before the outage", "hi\n",
                 DAY - timedelta(hours=2))
    assert len(send_digests(DAY + timedelta(minutes=5), cfg).sent) == 3  # the usual night
    # the scheduler is down for three days while 60 messages arrive
    start = DAY + timedelta(hours=1)
    missed = [post(digest_group, "alice@example.org", f"Outage day {i // 20} #{i}", "news\n",
                   start + timedelta(minutes=i * 70)) for i in range(60)]
    back = DAY + timedelta(days=3, hours=9)  # 09:00, nobody's digest hour
    assert back > start + timedelta(minutes=59 * 70)

    per_run: dict[str, list[int]] = {}
    for hour in range(16):  # the hourly beat from 09:00 until 01:00 the next night
        now = back + timedelta(hours=hour)
        for again in (now, now + timedelta(minutes=20)):  # a second run in the hour: nothing
            report = send_digests(again, cfg)
            emails = [p.membership.email for p in report.sent]
            assert len(emails) == len(set(emails)), f"two digests to one member at {again}"
            if again != now:
                assert report.sent == []
            for p in report.sent:
                per_run.setdefault(p.membership.email, []).append(hour)
    # carol and dave: 40 now, the other 20 an hour later; erin: one summary at midnight
    assert per_run == {"carol@example.org": [0, 1], "dave@example.org": [0, 1],
                       "erin@example.org": [15]}
    for email in ("carol@example.org", "dave@example.org", "erin@example.org"):
        runs = DigestRun.objects.filter(membership__email=email).order_by("first_number")
        covered = [n for run in runs for n in range(run.first_number, run.last_number + 1)]
        assert covered == [first, *missed], email  # every message once, in order
    carol = DigestRun.objects.filter(membership__email="carol@example.org").order_by("id")
    assert [r.last_number - r.first_number + 1 for r in carol] == [1, 40, 20]
    [catch_up] = [j for j in jobs("digest") if j["meta"]["number"] == missed[39]]
    assert len(parsed(catch_up).get_payload()[1].get_payload()) == 40


def test_the_digest_size_cap_is_a_strict_setting(monkeypatch):
    import pytest

    from platformcore.env import SettingError

    monkeypatch.setenv("DIGEST_MAX_MESSAGES", "30")
    assert DigestSettings.from_env().max_messages == 30
    monkeypatch.setenv("DIGEST_MAX_MESSAGES", "5")  # fewer than the early trigger (12)
    with pytest.raises(SettingError, match="DIGEST_MAX_MESSAGES=5 must be at least 12"):
        DigestSettings.from_env()
    monkeypatch.setenv("DIGEST_MAX_MESSAGES", "lots")
    with pytest.raises(SettingError, match="not a whole number"):
        DigestSettings.from_env()


def test_the_members_own_hour_in_their_own_time_zone(digest_group):
    user = User.objects.create_user("carol", "carol@example.org", "pw-unused-123",
                                    time_zone="America/New_York", digest_hour=7)
    Membership.objects.filter(email="carol@example.org").update(user=user)
    post(digest_group, "bob@example.org", "Morning news", "Read all about it\n",
         DAY + timedelta(hours=1))
    emails = lambda r: sorted(p.membership.email for p in r.sent)  # noqa: E731
    # 07:00 in New York in November is 12:00 UTC
    assert emails(send_digests(DAY + timedelta(hours=7), CFG)) == []
    assert emails(send_digests(DAY + timedelta(hours=11, minutes=59), CFG)) == []
    assert emails(send_digests(DAY + timedelta(hours=12, minutes=2), CFG)) == [
        "carol@example.org"]
    # the others (no account: midnight UTC) get it the next night
    assert emails(send_digests(DAY + timedelta(days=1), CFG)) == [
        "dave@example.org", "erin@example.org"]


def test_muted_topics_and_messages_before_joining_stay_out(digest_group):
    carol = Membership.objects.get(email="carol@example.org")
    old = post(digest_group, "bob@example.org", "Before carol", "old news\n",
               DAY + timedelta(hours=1))
    Membership.objects.filter(pk=carol.pk).update(joined_at=DAY + timedelta(hours=2))
    muted = post(digest_group, "bob@example.org", "Noisy thread", "blah\n",
                 DAY + timedelta(hours=3))
    from groups.models import Message

    TopicPreference.objects.create(membership=carol, mode="mute",
                                   topic=Message.objects.get(number=muted).topic)
    kept = post(digest_group, "bob@example.org", "Quiet thread", "hello\n",
                DAY + timedelta(hours=4))
    report = send_digests(DAY + timedelta(days=1), CFG)
    [carols] = [p for p in report.sent if p.membership.email == "carol@example.org"]
    assert carols.numbers == [kept]
    [daves] = [p for p in report.sent if p.membership.email == "dave@example.org"]
    assert daves.numbers == [old, muted, kept]


def test_bad_kind_is_refused_clearly(digest_group):
    import pytest

    from cronjobs import digestmime

    with pytest.raises(ValueError, match="unknown digest kind 'weekly'"):
        digestmime.build("weekly", digest_group, [], {}, DAY)


def test_non_ascii_and_8bit_originals_survive_every_format(digest_group):
    from messageserver import pipeline

    post(digest_group, "bob@example.org", "Grüße aus Köln ☕", "Schöne Grüße 😀\n",
         DAY + timedelta(hours=2))
    raw = ("From: bob@example.org\r\nTo: demo@groups.localhost\r\nSubject: 8bit ü\r\n"
           "Message-ID: <eightbit@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nplain 8bit ü body\r\n").encode()
    pipeline.handle_inbound("bob@example.org", ["demo@groups.localhost"], raw,
                            now=DAY + timedelta(hours=3))
    assert len(send_digests(DAY + timedelta(days=1), CFG).sent) == 3
    inner = parsed(jobs("digest")[0]).get_payload()[1].get_payload()
    originals = [p.get_payload()[0] for p in inner]
    assert [o["Subject"] for o in originals] == ["Grüße aus Köln ☕", "8bit ü"]
    assert originals[1].get_content().rstrip() == "plain 8bit ü body"
    assert "1. Grüße aus Köln ☕ (Bob Member)" in parsed(jobs("plain_digest")[0]).get_content()
    summary = parsed(jobs("summary")[0]).get_body(("plain",)).get_content()
    assert "Schöne Grüße 😀" in summary
