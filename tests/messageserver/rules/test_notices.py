"""Notices the owner can reword, and the monthly guidelines reminder (idempotent per month)."""

from __future__ import annotations

from datetime import UTC, datetime

from groups.models import Group, Membership, NoticeTemplate
from messageserver import notices
from tests.messageserver.rules.conftest import DOMAIN, address_in, body, queued


def test_monthly_guidelines_once_a_month_to_members_who_take_mail(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(guidelines="Be kind.",
                                                 guidelines_monthly=True)
    Group.objects.create(name="quiet", guidelines="Unused", guidelines_monthly=False)
    Membership.objects.filter(email="dora@example.org").update(delivery="nomail")
    june = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert notices.send_monthly_guidelines(june) == 2
    assert notices.send_monthly_guidelines(june.replace(day=20)) == 0  # same month: nothing
    sent = queued()
    assert sorted(address_in(m["To"]) for m in sent) == ["alice@example.org",
                                                         "bob@example.org"]
    for msg in sent:
        assert msg["Subject"] == "[demo] Guidelines of Demo group"
        assert "Be kind." in body(msg) and msg["Auto-Submitted"] == "auto-generated"
        assert address_in(msg["From"]) == f"demo+owner@{DOMAIN}"
    assert notices.send_monthly_guidelines(june.replace(month=7)) == 2


def test_owner_rewords_the_welcome(demo_group):
    NoticeTemplate.objects.create(group=demo_group, kind="welcome",
                                  subject="Hi {{ membership.name }}",
                                  body="Glad you're here. Rules: {{ guidelines|default:'none' }}")
    bob = Membership.objects.get(email="bob@example.org")
    notices.welcome(bob)
    [msg] = queued("bob@example.org")
    assert msg["Subject"] == "Hi Bob Member"
    assert body(msg).strip() == "Glad you're here. Rules: none"


def test_goodbye_default_wording(demo_group):
    notices.goodbye(Membership.objects.get(email="bob@example.org"))
    [msg] = queued("bob@example.org")
    assert msg["Subject"] == "[demo] You have left Demo group"
    assert f"demo+subscribe@{DOMAIN}" in body(msg)
