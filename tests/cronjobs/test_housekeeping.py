"""The hourly housekeeping job: held messages expire on time, once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from groups.models import Group, HeldMessage
from messageserver import pipeline
from tests.conftest import mail


def test_expired_held_messages_are_expired_once(demo_group):
    Group.objects.filter(pk=demo_group.pk).update(nonmember_policy="hold")
    pipeline.handle_inbound("charlie@example.net", ["demo@groups.localhost"],
                            mail("nonmember_post.eml"))
    held = HeldMessage.objects.get()
    later = (held.expires_at + timedelta(minutes=1)).isoformat()
    out = StringIO()
    call_command("housekeeping", "--now", (timezone.now()).isoformat(), stdout=out)
    assert HeldMessage.objects.get().state == "pending"
    call_command("housekeeping", "--now", later, stdout=out)
    assert HeldMessage.objects.get().state == "expired"
    out2 = StringIO()
    call_command("housekeeping", "--now", later, stdout=out2)
    assert out2.getvalue().startswith("0 held messages expired")


def test_processed_bounce_reports_are_forgotten_after_a_month(demo_group):
    """Redelivered reports are recognised for a month (bouncehandling), then the rows go."""
    from groups.models import Membership, ProcessedReport

    member = Membership.objects.filter(group=demo_group).first()
    now = timezone.now()
    ProcessedReport.objects.create(membership=member, report_id="<old@mta>", kind="bounce",
                                   at=now - timedelta(days=31))
    ProcessedReport.objects.create(membership=member, report_id="<new@mta>", kind="bounce",
                                   at=now - timedelta(days=2))
    out = StringIO()
    call_command("housekeeping", "--now", now.isoformat(), stdout=out)
    assert "1 old bounce reports forgotten" in out.getvalue()
    assert list(ProcessedReport.objects.values_list("report_id", flat=True)) == ["<new@mta>"]
