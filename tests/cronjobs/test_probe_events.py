"""Karl's "sent" event for a bounce probe restores the member (through messageserver)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from groups.models import Membership
from messageserver import deliveryevents


def test_a_delivered_probe_restores_a_bouncing_member(demo_group):
    now = timezone.now()
    bob = Membership.objects.get(email="bob@example.org")
    Membership.objects.filter(pk=bob.pk).update(bounce_state="bouncing",
                                                bouncing_since=now - timedelta(days=3))
    event = {"job_id": "j1", "address": "bob@example.org", "state": "sent", "code": 250,
             "reply": "2.0.0 ok", "at": now.isoformat(),
             "meta": {"kind": "probe", "group": "demo", "number": 0, "membership": bob.pk}}
    assert deliveryevents.record([event]) == 1
    assert Membership.objects.get(pk=bob.pk).bounce_state == "ok"
    # an ordinary "sent" event changes nothing
    assert deliveryevents.record([{**event, "meta": {"group": "demo", "number": 3}}]) == 0
