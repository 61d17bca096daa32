"""The restore link mailed in bounce probes and after a complaint: delivery back, and a notice.

The member's bounce history goes through the real paths (Karl's delivery
events, the bouncer's runs); the link is the one the probe mail carries, and
the notice is read back from the outbox as Karl would get it.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cronjobs.bouncer import run_bouncer
from cronjobs.config import BounceSettings
from groups.models import Membership, OutboxItem
from messageserver import deliveryevents

pytestmark = pytest.mark.django_db


def _bounce(address: str, at) -> None:
    deliveryevents.record([{"state": "bounced", "address": address, "code": 550,
                            "reply": f"550 5.1.1 <{address}>: user unknown",
                            "at": at.isoformat(), "meta": {"group": "demo", "number": 1}}])


def _notices_to(address: str) -> list[email.message.EmailMessage]:
    out = []
    for item in OutboxItem.objects.order_by("pk"):
        if item.payload.get("meta", {}).get("kind") not in ("notice", "probe"):
            continue
        if [r["address"] for r in item.payload["recipients"]] == [address]:
            out.append(email.message_from_bytes(base64.b64decode(item.payload["message_b64"]),
                                                policy=email.policy.default))
    return out


def _probe_link(address: str) -> str:
    probe = [m for m in _notices_to(address) if "Checking that mail reaches you" in m["Subject"]]
    [url] = re.findall(r"http://testserver(/restore/\S+/)", probe[-1].get_content())
    return url


def _bob() -> Membership:
    return Membership.objects.get(email="bob@example.org")


def test_the_probes_link_gives_delivery_back_and_says_so(demo_group):
    now = timezone.now() - timedelta(hours=2)
    _bounce("bob@example.org", now)
    assert run_bouncer(now + timedelta(hours=1)).marked == ["bob@example.org in demo"]
    url = _probe_link("bob@example.org")
    page = Client().get(url).content.decode()
    assert "has been bouncing" in page and "Restore delivery" in page
    assert _bob().bounce_state == "bouncing"  # a GET (a link scanner) changes nothing

    before = len(_notices_to("bob@example.org"))
    page = Client().post(url).content.decode()
    assert "is a member again" in page
    bob = _bob()
    assert (bob.status, bob.bounce_state, bob.bounce_score, bob.probes_sent) == (
        "active", "ok", 0, 0)
    [notice] = _notices_to("bob@example.org")[before:]
    assert notice["Subject"] == "[demo] Welcome back to Demo group"
    body = notice.get_content()
    assert "mail reaches you again" in body and "demo@groups.localhost" in body
    assert notice["Auto-Submitted"] == "auto-generated"

    Client().post(url)  # pressed twice: nothing more happens, nobody is mailed again
    assert len(_notices_to("bob@example.org")) == before + 1


def test_a_member_the_bouncer_removed_comes_back_by_the_link(demo_group):
    quick = BounceSettings(probe_interval_days=1, probes_to_remove=1)
    now = timezone.now() - timedelta(days=3)
    _bounce("bob@example.org", now)
    run_bouncer(now + timedelta(hours=1), quick)
    assert run_bouncer(now + timedelta(days=1, hours=2), quick).removed == [
        "bob@example.org in demo"]
    url = _probe_link("bob@example.org")
    assert "was removed from the group" in Client().get(url).content.decode()

    Client().post(url)
    bob = _bob()
    assert (bob.status, bob.bounce_state, bob.first_bounce_at) == ("active", "ok", None)
    notice = _notices_to("bob@example.org")[-1]
    assert notice["Subject"] == "[demo] Welcome back to Demo group"
    assert "Your membership of Demo group is restored" in notice.get_content()
    # the bouncer starts afresh: the old bounce does not remove bob again
    assert run_bouncer(timezone.now()).marked == []


def test_the_link_does_not_bring_back_a_banned_member(demo_group):
    now = timezone.now() - timedelta(hours=2)
    _bounce("bob@example.org", now)
    run_bouncer(now + timedelta(hours=1))
    url = _probe_link("bob@example.org")
    Membership.objects.filter(email="bob@example.org").update(status="banned")
    before = OutboxItem.objects.count()
    assert "can't be restored here" in Client().post(url).content.decode()
    assert _bob().status == "banned" and OutboxItem.objects.count() == before
