"""The membership actions: one table of transitions, each taken once, its notice with it.

These check the rules the mail and web copies used to disagree on (see
messageserver/membership_actions.py), and that nothing outside the module
writes a membership's status.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from groups.models import Group, Membership, OutboxItem
from messageserver import membership_actions as actions

S = Membership.Status
ROOT = Path(__file__).resolve().parents[2]


def notices_to(address: str) -> list[str]:
    """The outbox descriptions of notices queued to ``address``."""
    return [o.description for o in OutboxItem.objects.order_by("id")
            if address in [r["address"] for r in o.payload.get("recipients", [])]]


def row(group: Group, email: str) -> Membership:
    return Membership.objects.get(group=group, email=email)


@pytest.mark.django_db
def test_every_action_names_a_transition_and_every_status_is_covered():
    for name, t in actions.TRANSITIONS.items():
        assert t.allowed_from <= actions.ANY, name
        assert t.to is None or t.to in actions.ANY, name
    reachable = {t.to for t in actions.TRANSITIONS.values() if t.to}
    assert reachable == actions.ANY - {S.INVITED}  # invited rows are made, never moved to


@pytest.mark.django_db
def test_a_second_approve_changes_nothing_and_welcomes_once(demo_group):
    m = actions.membership_row(demo_group, "erin@example.org")
    demo_group.join_policy = Group.JoinPolicy.APPROVAL
    demo_group.save()
    assert actions.request_join(m) is not None
    assert actions.approve(m.pk) is not None
    assert actions.approve(m.pk) is None
    assert row(demo_group, "erin@example.org").status == S.ACTIVE
    assert len([d for d in notices_to("erin@example.org") if "welcome" in d]) == 1


@pytest.mark.django_db
def test_confirming_an_invitation_in_an_approval_group_makes_a_member(demo_group):
    """The invitation was the owners' approval: mail and web used to send it to them again."""
    demo_group.join_policy = Group.JoinPolicy.APPROVAL
    demo_group.save()
    m = Membership.objects.create(group=demo_group, email="ivy@example.org", status=S.INVITED)
    assert actions.join_route(demo_group, m) == actions.OPEN
    assert actions.ask_confirmation(m).status == S.INVITED  # a mailed subscribe keeps it
    assert actions.confirm(m) == S.ACTIVE
    assert any("welcome" in d for d in notices_to("ivy@example.org"))


@pytest.mark.django_db
def test_a_self_made_request_in_an_approval_group_goes_to_the_owners(demo_group):
    demo_group.join_policy = Group.JoinPolicy.APPROVAL
    demo_group.save()
    m = actions.membership_row(demo_group, "finn@example.org")
    assert actions.join_route(demo_group, m) == actions.NEEDS_APPROVAL
    actions.ask_confirmation(m)
    assert actions.confirm(m) == S.PENDING_APPROVAL
    assert any("join request finn@example.org" in d for d in notices_to("alice@example.org"))
    assert actions.join_route(demo_group, row(demo_group, "finn@example.org")) == actions.WAITING


@pytest.mark.django_db
def test_leaving_says_goodbye_only_to_a_member(demo_group):
    pending = actions.membership_row(demo_group, "gus@example.org")
    actions.ask_confirmation(pending)
    assert actions.leave(pending) is not None
    assert not any("goodbye" in d for d in notices_to("gus@example.org"))
    bob = row(demo_group, "bob@example.org")
    assert actions.leave(bob) is not None
    assert actions.leave(bob) is None  # a second click: nothing more
    assert len([d for d in notices_to("bob@example.org") if "goodbye" in d]) == 1


@pytest.mark.django_db
def test_ban_unban_and_remove_start_only_where_the_table_allows(demo_group):
    bob = row(demo_group, "bob@example.org")
    assert actions.unban(bob) is None  # not banned
    assert actions.ban(bob).status == S.BANNED
    assert actions.ban(bob) is None
    assert actions.join_route(demo_group, row(demo_group, "bob@example.org")) == actions.BANNED
    assert actions.unban(bob).status == S.UNSUBSCRIBED
    removed = actions.remove(bob)
    assert removed.status == S.REMOVED
    # a second removal changes no status, but it is the owner's: earlier restore links die
    assert actions.remove(bob).removal_serial == removed.removal_serial + 1


@pytest.mark.django_db
def test_removals_and_restores_move_the_serial_the_bouncers_removal_does_not(demo_group):
    """A restore link names the removal it undoes (h4): every removal and restore moves on."""
    bob = row(demo_group, "bob@example.org")
    serial = bob.removal_serial
    complained = actions.remove_for_complaint(bob, "abuse")
    assert complained.removal_serial == serial + 1
    assert not actions.restore(bob.pk, removal_serial=serial)  # a link of before
    assert actions.restore(bob.pk, removal_serial=serial + 1)
    assert row(demo_group, "bob@example.org").removal_serial == serial + 2
    assert not actions.restore(bob.pk, removal_serial=serial + 1)  # used up
    now = timezone.now()
    actions.mark_bouncing(bob, now)
    gone = actions.remove_for_bouncing(bob, probes=3, bounced=3)
    assert gone.status == S.REMOVED and gone.removal_serial == serial + 2


@pytest.mark.django_db
def test_a_member_sets_delivery_only_while_active_a_moderator_always(demo_group):
    bob = row(demo_group, "bob@example.org")
    actions.leave(bob)
    assert actions.set_delivery(bob, "digest", by_member=True) is None
    assert actions.set_delivery(bob, "digest").delivery == "digest"
    with pytest.raises(ValueError):
        actions.set_delivery(bob, "carrier-pigeon")


@pytest.mark.django_db
def test_bouncing_then_a_delivered_probe_restores_delivery(demo_group):
    now = timezone.now()
    bob = row(demo_group, "bob@example.org")
    assert actions.mark_bouncing(bob, now).bounce_state == Membership.BounceState.BOUNCING
    assert actions.mark_bouncing(bob, now) is None
    assert not actions.probe_delivered(bob.pk, now - timedelta(days=1))  # an older probe
    assert actions.probe_delivered(bob.pk, now + timedelta(hours=1))
    assert row(demo_group, "bob@example.org").bounce_state == Membership.BounceState.OK


# Writers of the state columns (and the restore-link serial), outside the actions module:
# none may appear. A write is
# an update() naming one of the columns, or an assignment to it, with "Membership" close by.
WRITE = re.compile(r"\.update\((?:[^()]|\([^()]*\))*?\b(status|delivery|posting_status|"
                   r"bounce_state|removal_serial)\s*=|\.(status|delivery|posting_status|"
                   r"bounce_state|removal_serial) = |next_removal\(", re.DOTALL)


def state_writes(text: str) -> list[int]:
    """Line numbers of the membership state writes in ``text``."""
    return [text.count("\n", 0, found.start()) + 1 for found in WRITE.finditer(text)
            if "Membership" in text[max(0, found.start() - 300):found.end()]]


def test_no_module_but_the_actions_writes_a_membership_state():
    offenders = []
    for package in ("groups", "messageserver", "cronjobs", "search", "smtpd"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "membership_actions.py" or "migrations" in path.parts:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{n}" for n in state_writes(path.read_text())]
    assert offenders == []


def test_the_writer_check_finds_the_writes_it_is_for():
    """The old copies (a conditional update split over lines, an assignment) are found."""
    assert state_writes("Membership.objects.filter(pk=m.pk, bounce_state=B.OK).update(\n"
                        "    bounce_state=B.BOUNCING, probes_sent=0)") == [1]
    assert state_writes("m = Membership.objects.get()\nm.status = S.ACTIVE") == [2]
    assert state_writes("OutboxItem.objects.filter(pk=1).update(status='done')") == []
    # h4's restore-link serial is membership state too (moved on with every removal)
    assert state_writes("Membership.objects.filter(pk=m.pk).update(\n"
                        "    removal_serial=F('removal_serial') + 1)") == [1]
    assert state_writes("Membership.objects.filter(pk=m.pk).update(**next_removal())") == [1]


@pytest.mark.django_db
def test_the_admin_changes_state_through_the_actions_only(demo_group, client):
    from groups.models import User

    admin = User.objects.create_superuser("root", "root@example.org", "pw-for-the-test-1")
    client.force_login(admin)
    bob = row(demo_group, "bob@example.org")
    page = client.get(f"/admin/groups/membership/{bob.pk}/change/")
    assert page.status_code == 200
    assert b'name="status"' not in page.content  # read-only: no edit around the rules
    response = client.post("/admin/groups/membership/", {
        "action": "ban", "_selected_action": [bob.pk]})
    assert response.status_code == 302
    assert row(demo_group, "bob@example.org").status == S.BANNED
    client.post("/admin/groups/membership/", {"action": "posting_moderated",
                                              "_selected_action": [bob.pk]})
    assert row(demo_group, "bob@example.org").posting_status == "moderated"
