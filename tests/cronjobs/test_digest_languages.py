"""Digests are written in each member's language and show times in their time zone.

Members with identical digests share one Karl job only when their language and
zone agree too; each job is parsed as MIME and read like a mail program would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronjobs.config import DigestSettings
from cronjobs.digests import send_digests
from groups.models import Membership, Message, User
from tests.cronjobs.conftest import jobs, parsed

DAY = datetime(2026, 11, 23, tzinfo=UTC)


def _post(group, subject: str, text: str) -> int:
    from messageserver import pipeline, posts

    raw = posts.compose(group, "bob@example.org", "Bob Member", subject, text)
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [group.post_address], raw,
                                             now=DAY + timedelta(hours=14))
    assert outcome.kind == "accepted", outcome
    return outcome.number


def _account(email: str, **fields) -> None:
    user = User.objects.create_user(username=email, email=email, password="x" * 12,
                                    email_confirmed=True, digest_hour=1, **fields)
    Membership.objects.filter(email=email).update(user=user)


def test_summary_in_the_members_language_and_zone(digest_group):
    """erin reads German in Berlin (her 01:00 is midnight UTC, when frank's summary goes);
    frank, without an account, reads English in UTC."""
    _account("erin@example.org", language="de", time_zone="Europe/Berlin")
    from groups.membership import add_members

    add_members(digest_group, ["frank@example.org"], delivery=Membership.Delivery.SUMMARY)
    Membership.objects.filter(email="frank@example.org").update(
        joined_at=datetime(2026, 1, 1, tzinfo=UTC))
    _post(digest_group, "Wanderung am Samstag", "Wer kommt mit?\n")
    send_digests(DAY + timedelta(days=1), DigestSettings())
    summaries = jobs("summary")
    assert len(summaries) == 2  # one job per language and zone, not one for both
    by_reader = {job["recipients"][0]["address"]: job for job in summaries}

    german = parsed(by_reader["erin@example.org"])
    assert german["Subject"].startswith("Demo group – Tageszusammenfassung vom ")
    assert german["Subject"].endswith(": 1 Nachricht")
    text = german.get_body(("plain",)).get_content()
    assert "1 Nachricht · 1 Thema" in text and "Die Gruppe online lesen:" in text
    sent = Message.objects.get(group=digest_group, number=1).date  # the mail's own Date
    berlin = sent.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"Bob Member, {berlin:%H:%M} {berlin.tzname()}:" in text  # in Berlin, zone named
    html = german.get_body(("html",)).get_content()
    assert '<html lang="de">' in html and "Tageszusammenfassung" in html
    footer = by_reader["erin@example.org"]["footer"]["text"]
    assert "Sie erhalten {{ group_name }} als {{ digest_kind }}." in footer
    assert by_reader["erin@example.org"]["recipients"][0]["vars"]["digest_kind"] == \
        "Tageszusammenfassung"

    english = parsed(by_reader["frank@example.org"])
    assert english["Subject"] == "Demo group Daily Summary for 24 Nov 2026: 1 message"
    text = english.get_body(("plain",)).get_content()
    sent = sent.astimezone(UTC)
    assert "1 message · 1 topic" in text and f"Bob Member, {sent:%H:%M} UTC:" in text


def test_plain_digest_in_french_keeps_the_rfc1153_structure(digest_group):
    _account("dave@example.org", language="fr", time_zone="Europe/Paris")
    _post(digest_group, "Sortie", "Qui vient ?\n")
    send_digests(DAY + timedelta(days=1), DigestSettings())
    [job] = jobs("plain_digest")
    msg = parsed(job)
    assert msg["Subject"] == "Demo group – recueil #1 : 1 message"
    text = msg.get_content()
    assert "Les sujets du jour :" in text
    # RFC 1153's burstable headers and trailer stay as the RFC spells them
    assert "\nDate: " in text and "\nFrom: " in text and "End of Demo group Digest" in text
