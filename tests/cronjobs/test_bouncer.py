"""The bouncer's state machine over simulated weeks: the clock is passed in, never slept on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cronjobs.bouncer import run_bouncer
from cronjobs.config import BounceSettings
from groups import tokens
from groups.models import Membership, Message
from messageserver import deliveryevents, fanout
from messageserver.membership_actions import probe_delivered
from tests.cronjobs.conftest import jobs, parsed, post

START = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
CFG = BounceSettings()


def karl_reports(address: str, at: datetime, *, hard: bool, number: int = 1) -> None:
    """Karl's delivery event for a failed copy, through messageserver's real handler."""
    reply = f"550 5.1.1 <{address}>: user unknown" if hard else "452 4.2.2 mailbox full"
    deliveryevents.record([{"state": "bounced", "address": address, "code": 550 if hard else 452,
                            "reply": reply, "at": at.isoformat(),
                            "meta": {"group": "demo", "number": number}}])


def bob() -> Membership:
    return Membership.objects.get(email="bob@example.org")


def fanout_addresses(group, now: datetime) -> list[str]:
    number = post(group, "alice@example.org", f"News of {now:%d %b}", "news\n", now)
    message = Message.objects.get(group=group, number=number)
    return sorted(m.email for m in fanout.recipients(message, []))


def probes_to(address: str) -> list[dict]:
    return [j for j in jobs("probe") if j["recipients"][0]["address"] == address]


def test_hard_bounce_then_four_bounced_probes_remove_the_member(demo_group):
    karl_reports("bob@example.org", START, hard=True)
    report = run_bouncer(START + timedelta(hours=1), CFG)
    assert report.marked == ["bob@example.org in demo"]
    assert bob().bounce_state == "bouncing"
    assert "bob@example.org" not in fanout_addresses(demo_group, START + timedelta(hours=2))

    # the first probe: one recipient, VERP naming bob and message 0, asks for "sent"
    [probe] = probes_to("bob@example.org")
    [rcpt] = probe["recipients"]
    token = rcpt["mail_from"].split("+", 1)[1].split("@", 1)[0]
    assert tokens.check(tokens.BOUNCE, token) == [str(bob().id), "0"]
    assert "sent" in probe["events"] and probe["meta"]["kind"] == "probe"
    assert "restore" in parsed(probe).get_content()

    day = START + timedelta(hours=1)
    for nth in range(1, 5):
        # each probe bounces a few hours after it went out
        karl_reports("bob@example.org", day + timedelta(hours=3), hard=False, number=0)
        for d in range(1, 4):  # the daily runs until the next probe is due
            run_bouncer(day + timedelta(days=d), CFG)
            run_bouncer(day + timedelta(days=d), CFG)  # twice: still one probe each time
            if bob().status == "removed":
                break
        if nth < 4:
            assert len(probes_to("bob@example.org")) == nth + 1
            assert bob().probes_sent == nth + 1
        day += timedelta(days=3)
    member = bob()
    assert member.status == "removed" and len(probes_to("bob@example.org")) == 4
    notices = [j for j in jobs("notice") if "bouncing" in j["meta"]["notice"]]
    assert sorted(r["address"] for j in notices for r in j["recipients"]) == [
        "alice@example.org", "bob@example.org"]
    owner_notice = [parsed(j) for j in notices
                    if j["recipients"][0]["address"] == "alice@example.org"][0]
    assert "bob@example.org removed for bouncing" in owner_notice["Subject"]
    # and nothing more happens to a removed member
    assert run_bouncer(day + timedelta(days=30), CFG).probed == []


def test_a_delivered_probe_restores_delivery(demo_group):
    karl_reports("bob@example.org", START, hard=True)
    run_bouncer(START + timedelta(days=1), CFG)
    run_bouncer(START + timedelta(days=4), CFG)  # second probe
    assert len(probes_to("bob@example.org")) == 2
    post(demo_group, "alice@example.org", "While bob bounced", "...\n",
         START + timedelta(days=4))
    assert probe_delivered(bob().id, START + timedelta(days=4, hours=1))
    member = bob()
    assert (member.bounce_state, member.probes_sent, member.first_bounce_at) == ("ok", 0, None)
    demo_group.refresh_from_db()  # digests resume from now, not with what bounced meanwhile
    assert member.digest_last_number == demo_group.last_message_number == 1
    assert "bob@example.org" in fanout_addresses(demo_group, START + timedelta(days=4, hours=2))
    assert not probe_delivered(bob().id, START + timedelta(days=4, hours=3))  # already ok
    # the old hard bounce doesn't count again
    assert run_bouncer(START + timedelta(days=5), CFG).marked == []
    # a new episode starts afresh with probe 1
    karl_reports("bob@example.org", START + timedelta(days=9), hard=True)
    assert run_bouncer(START + timedelta(days=10), CFG).marked == ["bob@example.org in demo"]
    assert bob().probes_sent == 1 and len(probes_to("bob@example.org")) == 3


def test_soft_bounces_need_three_days_within_eight(demo_group):
    # two days of soft bounces: not yet
    for d in (0, 1):
        karl_reports("bob@example.org", START + timedelta(days=d), hard=False)
        assert run_bouncer(START + timedelta(days=d, hours=1), CFG).marked == []
    karl_reports("bob@example.org", START + timedelta(days=1, hours=5), hard=False)  # same day
    assert run_bouncer(START + timedelta(days=2), CFG).marked == []
    # a third day, within eight: bouncing
    karl_reports("bob@example.org", START + timedelta(days=6), hard=False)
    assert run_bouncer(START + timedelta(days=6, hours=1), CFG).marked == [
        "bob@example.org in demo"]

    # dora bounces softly on three days spread over more than eight: never bouncing
    for d in (0, 5, 10, 16):
        karl_reports("dora@example.org", START + timedelta(days=d), hard=False)
        assert run_bouncer(START + timedelta(days=d, hours=1), CFG).marked == []
    # after a quiet window her old record is cleared
    assert run_bouncer(START + timedelta(days=30), CFG).cleared == ["dora@example.org in demo"]
    dora = Membership.objects.get(email="dora@example.org")
    assert dora.first_bounce_at is None and dora.bounce_state == "ok"


def test_the_rules_are_settings(demo_group):
    strict = BounceSettings(soft_min_days=1, probe_interval_days=1, probes_to_remove=1)
    karl_reports("dora@example.org", START, hard=False)
    assert run_bouncer(START + timedelta(hours=1), strict).marked == ["dora@example.org in demo"]
    # one probe, no delivery reported for its whole interval: removed
    assert run_bouncer(START + timedelta(days=1, hours=2), strict).removed == [
        "dora@example.org in demo"]
