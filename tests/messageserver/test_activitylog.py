"""The activity log: every membership change writes its entry in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from groups import activitylog
from groups.membership import add_members, set_roles
from groups.models import ActivityEntry, Membership
from messageserver import membership_actions as actions

S = Membership.Status


def log_of(group, target: str) -> list[tuple[str, str]]:
    return list(ActivityEntry.objects.filter(group=group, target=target)
                .order_by("at", "id").values_list("actor", "verb"))


@pytest.mark.django_db
def test_each_transition_is_logged_with_its_actor(demo_group):
    m = actions.membership_row(demo_group, "erin@example.org")
    actions.join(m, actor="erin@example.org")
    actions.set_delivery(m.pk, "digest", actor="owner@example.org")
    actions.set_posting_status(m.pk, "moderated", actor="owner@example.org")
    actions.ban(m.pk, actor="owner@example.org", reason="spam")
    assert log_of(demo_group, "erin@example.org") == [
        ("erin@example.org", "join"), ("owner@example.org", "set_delivery"),
        ("owner@example.org", "set_posting_status"), ("owner@example.org", "ban")]
    ban = ActivityEntry.objects.get(verb="ban")
    assert ban.detail == {"status": ["active", "banned"], "reason": "spam"}
    delivery = ActivityEntry.objects.get(verb="set_delivery")
    assert delivery.detail == {"delivery": ["individual", "digest"]}


@pytest.mark.django_db
def test_an_unchanged_setting_and_a_refused_transition_log_nothing(demo_group):
    m = actions.membership_row(demo_group, "erin@example.org")
    actions.join(m)
    before = ActivityEntry.objects.count()
    actions.set_delivery(m.pk, "individual", by_member=True, actor="erin@example.org")
    assert actions.approve(m.pk) is None  # not pending: refused
    assert ActivityEntry.objects.count() == before


@pytest.mark.django_db
def test_the_entry_rolls_back_with_the_change(demo_group):
    m = actions.membership_row(demo_group, "erin@example.org")
    actions.join(m)
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.remove(m.pk, actor="owner@example.org")
        raise RuntimeError("the request failed after the removal")
    assert Membership.objects.get(pk=m.pk).status == S.ACTIVE
    assert not ActivityEntry.objects.filter(verb="remove").exists()


@pytest.mark.django_db
def test_bounce_processing_is_the_actor_for_bounces(demo_group):
    m = actions.membership_row(demo_group, "erin@example.org")
    actions.join(m)
    now = timezone.now()
    actions.mark_bouncing(m.pk, now)
    actions.probe_delivered(m.pk, now + timedelta(minutes=1))
    entries = list(ActivityEntry.objects.filter(target="erin@example.org")
                   .exclude(verb="join").order_by("id"))
    assert [(e.actor, e.verb) for e in entries] == [
        (activitylog.BOUNCES, "mark_bouncing"), (activitylog.BOUNCES, "probe_delivered")]
    assert entries[0].detail["bounce_state"] == ["ok", "bouncing"]


@pytest.mark.django_db
def test_adds_invites_and_roles_are_logged(demo_group):
    add_members(demo_group, ["x@example.org", "y@example.org"], actor="owner@example.org")
    add_members(demo_group, ["z@example.org"], status=S.INVITED, actor="owner@example.org")
    assert set(ActivityEntry.objects.filter(verb="add", actor="owner@example.org")
               .values_list("target", flat=True)) == {
        "x@example.org", "y@example.org"}
    assert log_of(demo_group, "z@example.org") == [("owner@example.org", "invite")]
    x = Membership.objects.get(group=demo_group, email="x@example.org")
    assert set_roles(demo_group, [x.pk], "moderator", actor="owner@example.org") == (1, "")
    assert log_of(demo_group, "x@example.org")[-1] == ("owner@example.org", "set_role")
