"""Every change of a membership's state, in one place, over one table of allowed transitions.

Email commands (messageserver.commands), the website (groups.web), bounce mail
(messageserver.bouncehandling), Karl's delivery events, the bouncer
(cronjobs.bouncer) and the Django admin all call these functions and never
write ``Membership.status``, ``delivery``, ``posting_status`` or
``bounce_state`` themselves (Zulip's zerver/actions/ is the model). So a rule
(who may join, what a decline sends, when a restore link works) is written
once, and every way in obeys it.

Each action takes the row with a conditional UPDATE: ``UPDATE ... WHERE
status = <the status read>`` (which must be one of the transition's
allowed from-states), and checks the row count, so two requests racing (a
double-clicked approve, a reply and a link) change it once. The notice that
goes with the change (welcome, goodbye, pending, declined, removed, restored)
is queued in the same transaction: the outbox row commits with the change or
not at all. Answers to an email command (rate-limited, "you are already a
member") stay with the command; they say what happened, they are not part of it.

Every change is written to the activity log (groups.activitylog) by ``_take``, in the
same transaction, with the ``actor`` each action takes: the person's address on the
web, the member's for their own commands and links, "bounce processor" for bounces
and complaints, "system" otherwise. A ban rule (groups.senderrules) closes every
way in (``INTO_GROUP``).

An action returns the membership after the change, or None when the row was
not in a state the action may start from (nothing written, nobody mailed).
Roles and the bulk creation of rows (groups.membership.add_members) are not
state changes and live elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import accountemails, activitylog, links, senderrules
from groups.models import Group, Membership, User
from messageserver import notices, webhookevents

log = logging.getLogger(__name__)

S = Membership.Status
B = Membership.BounceState
ANY = frozenset(S.values)
# Where a join may start: anything but being a member already or banned.
JOINABLE = ANY - {S.ACTIVE, S.BANNED}
# Still on the way in, or in: what leaving ends.
LEAVABLE = frozenset({S.ACTIVE, S.PENDING_CONFIRM, S.PENDING_APPROVAL, S.INVITED})

RESTORE_DAYS = 3  # how long the restore link mailed after a spam complaint works

# Statuses that end a membership. Every move into one is a removal (by a complaint, an
# owner, a ban, leaving) that restore links issued earlier must not undo: it moves
# Membership.removal_serial on, in the same UPDATE, as does every restore. The bouncer's
# own removal (NOT_A_REMOVAL) does not count, so the probe links of that spell still work.
ENDED = frozenset({S.REMOVED, S.BANNED, S.UNSUBSCRIBED})
NOT_A_REMOVAL = frozenset({"remove_for_bouncing"})
NEXT_REMOVAL = {"removal_serial": F("removal_serial") + 1}


@dataclass(frozen=True)
class Transition:
    """Which rows an action may take, and the status it writes (None: the status stays)."""

    allowed_from: frozenset[str]
    to: str | None = None
    bounce_state: str | None = None  # the bounce state the row must be in, when it matters


TRANSITIONS: dict[str, Transition] = {
    # joining
    "join": Transition(JOINABLE, S.ACTIVE),  # open group, or invited (the website)
    "request_join": Transition(JOINABLE - {S.INVITED}, S.PENDING_APPROVAL),
    "ask_confirmation": Transition(JOINABLE - {S.INVITED, S.PENDING_APPROVAL}, S.PENDING_CONFIRM),
    "confirm": Transition(frozenset({S.PENDING_CONFIRM, S.INVITED}), S.ACTIVE),
    "confirm_to_approval": Transition(frozenset({S.PENDING_CONFIRM}), S.PENDING_APPROVAL),
    "approve": Transition(frozenset({S.PENDING_APPROVAL}), S.ACTIVE),
    "decline": Transition(frozenset({S.PENDING_APPROVAL}), S.REMOVED),
    # leaving and being made to leave
    "leave": Transition(LEAVABLE, S.UNSUBSCRIBED),
    # removing someone already removed (by a complaint) still counts: it ends the
    # restore link that removal mailed (Membership.removal_serial)
    "remove": Transition(ANY, S.REMOVED),
    "ban": Transition(ANY - {S.BANNED}, S.BANNED),
    "unban": Transition(frozenset({S.BANNED}), S.UNSUBSCRIBED),
    "remove_for_complaint": Transition(frozenset({S.ACTIVE}), S.REMOVED),
    "remove_for_bouncing": Transition(frozenset({S.ACTIVE}), S.REMOVED, B.BOUNCING),
    "restore": Transition(frozenset({S.REMOVED}), S.ACTIVE),
    # settings that keep the status
    "member_sets_delivery": Transition(frozenset({S.ACTIVE})),  # the member, by mail or web
    "member_sets_address": Transition(frozenset({S.ACTIVE})),  # the member, on the web
    "set_delivery": Transition(ANY),  # a moderator, for any row
    "set_posting_status": Transition(ANY),
    # bounce state (the bouncer, and probes that got through)
    "mark_bouncing": Transition(frozenset({S.ACTIVE}), None, B.OK),
    "probe_delivered": Transition(ANY, None, B.BOUNCING),
}


def _id(membership: Membership | int) -> int:
    return membership if isinstance(membership, int) else membership.pk


def _take(action: str, membership: Membership | int, *, actor: str = activitylog.SYSTEM,
          detail: dict[str, Any] | None = None, where: dict[str, Any] | None = None,
          **fields: Any) -> tuple[Membership, str] | None:
    """Apply ``action`` to one row: (the row after, its status before), or None.

    Must run inside a transaction (the callers' ``transaction.atomic``), so
    the notice the caller queues next, and the activity log's entry written
    here, commit with the change. A setting that did not change (a member
    saving the same delivery again) is not logged.
    """
    t = TRANSITIONS[action]
    m = (Membership.objects.select_for_update(of=("self",)).select_related("group", "user")
         .filter(pk=_id(membership)).first())
    if m is None or m.status not in t.allowed_from:
        return None
    if t.bounce_state is not None and m.bounce_state != t.bounce_state:
        return None
    if action in INTO_GROUP and senderrules.ban_for(m.group, m.email) is not None:
        return None  # a ban rule names the address: no way in, by any path
    if action in INTO_GROUP and not in_parent(m):
        return None  # a subgroup takes only its parent's members
    before = m.status
    old = {name: getattr(m, name) for name in _LOGGED if name in fields}
    rows = Membership.objects.filter(pk=m.pk, status=before, **(where or {}))
    if t.bounce_state is not None:
        rows = rows.filter(bounce_state=t.bounce_state)
    values = dict(fields)
    if t.to is not None:
        values["status"] = t.to
        if (t.to in ENDED and action not in NOT_A_REMOVAL) or action == "restore":
            values.update(NEXT_REMOVAL)  # earlier restore links die with this change
    if not rows.update(**values):
        return None
    if any(hasattr(v, "resolve_expression") for v in values.values()):
        m.refresh_from_db()
    else:
        for name, value in values.items():
            setattr(m, name, value)
    _log(m, action, actor, before, old, detail)
    if m.status in ENDED and before not in ENDED and m.group.parent_id is None:
        leave_subgroups(m, actor)
    webhookevents.member_changed(m, action, before, actor, str((detail or {}).get("reason", "")))
    return m, before


def in_parent(m: Membership) -> bool:
    """True unless ``m`` is in a subgroup whose parent the person isn't an active member of."""
    parent_id = m.group.parent_id
    if parent_id is None:
        return True
    return Membership.objects.filter(group_id=parent_id, status=S.ACTIVE).filter(
        Q(email=m.email) | Q(user_id=m.user_id) if m.user_id else Q(email=m.email)).exists()


def leave_subgroups(m: Membership, actor: str) -> None:
    """Out of a parent is out of its subgroups (same transaction, logged in each)."""
    rows = Membership.objects.filter(group__parent_id=m.group_id, status__in=LEAVABLE).filter(
        Q(email=m.email) | Q(user_id=m.user_id) if m.user_id else Q(email=m.email))
    for pk in rows.values_list("pk", flat=True):
        _take("remove", pk, actor=actor, detail={"reason": "left the parent group"})


# Transitions that let someone in (or on the way in): a ban rule naming the address
# refuses them all, whichever path (command, link, web, approval) takes them.
INTO_GROUP = frozenset({"join", "request_join", "ask_confirmation", "confirm",
                        "confirm_to_approval", "approve", "restore"})

# The fields whose change the activity log shows (old -> new) besides the status.
_LOGGED = ("delivery", "posting_status", "bounce_state", "email")


def _log(m: Membership, action: str, actor: str, before: str, old: dict[str, Any],
         detail: dict[str, Any] | None) -> None:
    """The activity log's entry for a transition just taken (same transaction)."""
    changes = {name: [value, getattr(m, name)] for name, value in old.items()
               if value != getattr(m, name)}
    if before == m.status and not changes and TRANSITIONS[action].to is None:
        return  # a setting saved unchanged: nothing happened
    info: dict[str, Any] = {"status": [before, m.status]} if before != m.status else {}
    info.update(changes)
    info.update(detail or {})
    activitylog.record(m.group, actor=actor, verb=action, target=m.email, detail=info)


# --- joining -------------------------------------------------------------------------

ALREADY, BANNED, WAITING, INVITE_ONLY, NEEDS_APPROVAL, OPEN, NEEDS_PARENT = (
    "already", "banned", "waiting", "invite_only", "needs_approval", "open", "needs_parent")


def join_route(group: Group, membership: Membership | None, email: str = "") -> str:
    """What a wish to join asks of this (possibly missing) membership under the join policy.

    The one join rule for mail and web: a member is ALREADY in; BANNED (the
    row, or a ban rule naming ``email`` or the row's address) may not join; a request WAITING for the owners stays so; an invite-only group takes
    only the INVITED; an approval group (unless invited: the invitation was the
    owners' approval) NEEDS_APPROVAL; else the way is OPEN (by mail after a
    confirmation by reply, on the web at once, the account's address being
    confirmed already).
    """
    status = membership.status if membership is not None else None
    invited = status == S.INVITED
    if status == S.ACTIVE:
        return ALREADY
    if status == S.BANNED:
        return BANNED
    if senderrules.ban_for(group, membership.email if membership is not None else email):
        return BANNED
    if status == S.PENDING_APPROVAL:
        return WAITING
    if group.parent_id is not None and not Membership.objects.filter(
            group_id=group.parent_id, status=S.ACTIVE,
            email=(membership.email if membership is not None else email).lower()).exists():
        return NEEDS_PARENT  # a subgroup takes only its parent's members
    if group.join_policy == Group.JoinPolicy.INVITE and not invited:
        return INVITE_ONLY
    if group.join_policy == Group.JoinPolicy.APPROVAL and not invited:
        return NEEDS_APPROVAL
    return OPEN


def membership_row(group: Group, email: str, *, user: User | None = None,
                   display_name: str = "") -> Membership:
    """The row for ``email`` in ``group``, made (as "unsubscribed") when there is none.

    A new row starts outside the group, so that joining is a transition like
    any other, with its notice; the role of an existing row never changes.
    """
    email = email.strip().lower()
    if user is None:
        user = User.objects.filter(email__iexact=email).first()
    m, _ = Membership.objects.get_or_create(
        group=group, email=email,
        defaults={"status": S.UNSUBSCRIBED, "user": user,
                  "display_name": (display_name or (user.display_name if user else ""))[:150]})
    return m


def join(membership: Membership | int, *, actor: str = activitylog.SYSTEM,
         **fields: Any) -> Membership | None:
    """In at once (an open group, or an invitation accepted on the website): the welcome."""
    with transaction.atomic():
        taken = _take("join", membership, actor=actor, **fields)
        if taken is None:
            return None
        notices.welcome(taken[0])
    return taken[0]


def request_join(membership: Membership | int, *, answering: str = "",
                 tell_member: bool = True, actor: str = activitylog.SYSTEM,
                 **fields: Any) -> Membership | None:
    """Ask the owners: the requester is told it waits (unless ``tell_member`` is False,
    e.g. their answers are rate-limited), the owners are always asked."""
    with transaction.atomic():
        taken = _take("request_join", membership, actor=actor, **fields)
        if taken is None:
            return None
        m, before = taken
        if before != S.PENDING_APPROVAL:
            _pending(m, answering, tell_member)
    return m


def _pending(m: Membership, answering: str, tell_member: bool) -> None:
    if tell_member:
        notices.subscription_pending(m, answering=answering)
        return
    for owner in notices.moderators(m.group):
        notices.send("pending_owner", m.group, owner, f"join request {m.email} for {owner}",
                     membership=m, members_url=links.group_url(m.group.name))


def ask_confirmation(membership: Membership | int, *, actor: str = activitylog.SYSTEM
                     ) -> Membership | None:
    """Wait for the subscriber to confirm by reply or link (the command sends the request).

    An invited row stays invited: its confirmation makes it active, as the
    invitation link does.
    """
    with transaction.atomic():
        m = Membership.objects.select_related("group", "user").get(pk=_id(membership))
        if m.status == S.INVITED:
            return m
        taken = _take("ask_confirmation", m, actor=actor)
    return taken[0] if taken else None


def confirm(membership: Membership | int, *, actor: str = activitylog.SYSTEM) -> str:
    """The subscriber confirmed (by reply or link): active, or waiting for the owners.

    The one step after a confirmation, for mail and web alike. An invited
    member becomes active; a self-made request in an approval group goes to
    the owners. Returns the new status, or "" when the row was not waiting.
    """
    with transaction.atomic():
        m = (Membership.objects.select_related("group")
             .filter(pk=_id(membership)).first())
        if m is None:
            return ""
        approval = (m.group.join_policy == Group.JoinPolicy.APPROVAL
                    and m.status == S.PENDING_CONFIRM)
        taken = _take("confirm_to_approval" if approval else "confirm", m, actor=actor)
        if taken is None:
            return ""
        if approval:
            notices.subscription_pending(taken[0])
        else:
            notices.welcome(taken[0])
    return taken[0].status


def approve(membership: Membership | int, *, actor: str = activitylog.SYSTEM
            ) -> Membership | None:
    """An owner approves a join request: the welcome."""
    with transaction.atomic():
        taken = _take("approve", membership, actor=actor)
        if taken is not None:
            notices.welcome(taken[0])
    return taken[0] if taken else None


def decline(membership: Membership | int, reason: str = "", *,
            actor: str = activitylog.SYSTEM) -> Membership | None:
    """An owner declines a join request: the requester gets the owner's reason."""
    with transaction.atomic():
        taken = _take("decline", membership, actor=actor,
                      detail={"reason": reason} if reason else None)
        if taken is not None:
            notices.join_declined(taken[0], reason)
    return taken[0] if taken else None


# --- leaving -------------------------------------------------------------------------

def leave(membership: Membership | int, *, actor: str = activitylog.SYSTEM
          ) -> Membership | None:
    """The member leaves (page, one-click link, confirmed command); a member gets goodbye,
    a request still on its way in is simply withdrawn."""
    with transaction.atomic():
        taken = _take("leave", membership, actor=actor)
        if taken is not None and taken[1] == S.ACTIVE:
            notices.goodbye(taken[0])
    return taken[0] if taken else None


def remove(membership: Membership | int, *, actor: str = activitylog.SYSTEM,
           reason: str = "") -> Membership | None:
    """A moderator removes someone (they may join again).

    Also from "removed": a complaint's removal comes with a restore link, and an
    owner who removes the member too means it, so the link dies (the serial moves).
    """
    with transaction.atomic():
        taken = _take("remove", membership, actor=actor,
                      detail={"reason": reason} if reason else None)
    return taken[0] if taken else None


def ban(membership: Membership | int, *, actor: str = activitylog.SYSTEM,
        reason: str = "") -> Membership | None:
    """A moderator bans someone: they can't join again until unbanned."""
    with transaction.atomic():
        taken = _take("ban", membership, actor=actor,
                      detail={"reason": reason} if reason else None)
    return taken[0] if taken else None


def unban(membership: Membership | int, *, actor: str = activitylog.SYSTEM,
          reason: str = "") -> Membership | None:
    """Lift a ban: the person is outside the group, free to join again."""
    with transaction.atomic():
        taken = _take("unban", membership, actor=actor,
                      detail={"reason": reason} if reason else None)
    return taken[0] if taken else None


def remove_for_complaint(membership: Membership | int, feedback_type: str, *,
                         actor: str = activitylog.BOUNCES) -> Membership | None:
    """A spam complaint (ARF): out at once, and mailed the link that restores them."""
    with transaction.atomic():
        taken = _take("remove_for_complaint", membership, actor=actor,
                      detail={"feedback_type": feedback_type})
        if taken is None:
            return None
        m = taken[0]
        notices.send("complaint_removed", m.group, m.email, f"complaint removal of {m.email}",
                     membership=m,
                     restore_url=links.restore_membership_url(m, RESTORE_DAYS),
                     restore_days=RESTORE_DAYS, feedback_type=feedback_type)
    return m


def remove_for_bouncing(membership: Membership | int, *, probes: int,
                        bounced: int, actor: str = activitylog.BOUNCES) -> Membership | None:
    """The bouncer gives up on a bouncing member: they and the owners are told."""
    with transaction.atomic():
        taken = _take("remove_for_bouncing", membership, actor=actor,
                      detail={"probes": probes, "bounced": bounced})
        if taken is None:
            return None
        m = taken[0]
        group = m.group
        ctx = {"group": group, "membership": m, "probes": probes, "bounced": bounced,
               "bouncing_since": m.bouncing_since, "group_url": links.group_url(group.name)}
        subject, body = notices.render("bounce_removed", group, ctx, reader=m.email)
        notices.queue(notices.build(group, [m.email], subject, body), [m.email],
                      f"{group.name}: removed {m.email} for bouncing", group)
        owners = list(Membership.objects.filter(group=group, role=Membership.Role.OWNER,
                                                status=S.ACTIVE)
                      .values_list("email", flat=True))
        if owners:
            subject, body = notices.render("bounce_removed_owner", group, ctx,
                                           reader=notices.common_reader(owners))
            notices.queue(notices.build(group, owners, subject, body), owners,
                          f"{group.name}: owners told {m.email} was removed for bouncing",
                          group)
    return m


# --- settings that keep the status ---------------------------------------------------

def set_delivery(membership: Membership | int, mode: str, *, by_member: bool = False,
                 actor: str = activitylog.SYSTEM) -> Membership | None:
    """Set how mail reaches this member; the member themselves only while active."""
    mode = Membership.Delivery(mode).value
    with transaction.atomic():
        taken = _take("member_sets_delivery" if by_member else "set_delivery", membership,
                      actor=actor, delivery=mode)
    return taken[0] if taken else None


class AddressRefused(ValueError):
    """The address can't receive this membership's mail; the message says why, for a form."""


def set_address(membership: Membership | int, email: str, *,
                actor: str = activitylog.SYSTEM) -> Membership | None:
    """The member picks which of their account's verified addresses receives this group's mail.

    Only a verified address of the membership's own account (groups.accountemails),
    and not one that has a row of its own in the group (that row is another membership:
    its owner leaves it first). Raises AddressRefused; None when the row is not active.
    """
    email = email.strip().lower()
    m = Membership.objects.select_related("user").filter(pk=_id(membership)).first()
    if m is None or m.user is None:
        return None
    if email == m.email:
        return m
    if email not in accountemails.verified_addresses(m.user):
        raise AddressRefused(_("%(email)s is not a verified address of your account.")
                             % {"email": email})
    if Membership.objects.filter(group_id=m.group_id, email=email).exclude(pk=m.pk).exists():
        raise AddressRefused(_("%(email)s has a membership of its own in this group.")
                             % {"email": email})
    with transaction.atomic():
        taken = _take("member_sets_address", m, actor=actor, email=email)
    return taken[0] if taken else None


def set_posting_status(membership: Membership | int, posting_status: str, *,
                       actor: str = activitylog.SYSTEM) -> Membership | None:
    """A moderator's per-member posting rule (moderated, not allowed, override, ...)."""
    posting_status = Membership.PostingStatus(posting_status).value
    with transaction.atomic():
        taken = _take("set_posting_status", membership, actor=actor,
                      posting_status=posting_status)
    return taken[0] if taken else None


# --- bounces -------------------------------------------------------------------------

def mark_bouncing(membership: Membership | int, now: datetime, *,
                  actor: str = activitylog.BOUNCES) -> Membership | None:
    """Stop mail to an active member whose mail bounces; the bouncer probes from here."""
    with transaction.atomic():
        taken = _take("mark_bouncing", membership, actor=actor, bounce_state=B.BOUNCING,
                      bouncing_since=now, probes_sent=0, last_probe_at=None)
    return taken[0] if taken else None


_CLEAR = {"bounce_score": 0, "first_bounce_at": None, "last_bounce_at": None}
_BACK_TO_OK = {**_CLEAR, "bounce_state": B.OK, "bouncing_since": None, "probes_sent": 0,
               "last_probe_at": None}


def probe_delivered(membership_id: int, at: datetime, *,
                    actor: str = activitylog.BOUNCES) -> bool:
    """A probe reached the member (Karl's "sent" for a probe job, or the restore link).

    Delivery resumes and the bounce record starts afresh. False when there was
    nothing to restore (not bouncing, or a probe from before this episode).
    Digests resume from now: what was posted while mail bounced is not sent in
    a flood.
    """
    latest = Group.objects.filter(memberships__pk=membership_id).values_list(
        "last_message_number", flat=True).first() or 0
    with transaction.atomic():
        taken = _take("probe_delivered", membership_id, actor=actor,
                      where={"bouncing_since__lte": at},
                      **_BACK_TO_OK, digest_last_number=Greatest(
                          "digest_last_number", Value(latest)))
    if taken:
        log.info("a probe reached membership %s; delivery restored", membership_id)
    return taken is not None


def restore(membership_id: int, now: datetime | None = None, *,
            removal_serial: int | None = None, actor: str = activitylog.SYSTEM) -> bool:
    """What the restore link does on POST: the member is back, and is told so.

    The link is mailed after a spam complaint removed the member and in every
    bounce probe. A "removed" membership becomes active again; one whose mail
    was bouncing (still active, or removed by the bouncer) gets delivery back
    with a fresh bounce record, by the same rule as a delivered probe. Anything
    else (banned, left, already restored) is left alone, so a link can't
    re-activate someone who was banned or left since. The "restored" notice is
    queued in the same transaction. Returns whether anything changed.

    ``removal_serial`` is the one the link was issued at: after a later removal
    (or a first use of the link) it no longer matches and nothing changes. A
    restore moves it on too, so a link (and every link issued with it) works once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        m = (Membership.objects.select_for_update(of=("self",))
             .select_related("group", "user").filter(pk=membership_id).first())
        if m is None:
            return False
        if removal_serial is not None and m.removal_serial != removal_serial:
            return False
        came_back = m.status == S.REMOVED
        bouncing = m.bounce_state == B.BOUNCING
        if not came_back and not (m.status == S.ACTIVE and bouncing):
            return False
        if came_back and _take("restore", m, actor=actor) is None:
            return False
        if not came_back:  # a bouncing member: the link is used up all the same
            Membership.objects.filter(pk=m.pk).update(**NEXT_REMOVAL)
        if bouncing:
            probe_delivered(m.pk, now, actor=actor)  # the member says mail reaches them again
        m.refresh_from_db()
        notices.membership_restored(m, removed=came_back)
    log.info("restore link: %s in %s restored (%s)", m.email, m.group.name,
             "was removed" if came_back else "was bouncing")
    return True
