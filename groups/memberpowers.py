"""What owners and moderators may do to a group's members: the website's member pages and
the public API both ask here.

Owners (and site admins) act on anyone; moderators on plain members only. A group
always keeps an active owner. States change only through
messageserver.membership_actions, roles through groups.membership.set_roles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from groups import activitylog
from groups.membership import LAST_OWNER, set_roles
from groups.models import Group, Membership
from messageserver import membership_actions

S = Membership.Status
R = Membership.Role

# The statuses each of the member list's status filters stands for.
STATUS_SETS: dict[str, tuple[str, ...]] = {
    "": (S.ACTIVE, S.INVITED, S.PENDING_CONFIRM, S.PENDING_APPROVAL),
    "active": (S.ACTIVE,),
    "pending": (S.INVITED, S.PENDING_CONFIRM, S.PENDING_APPROVAL),
    "banned": (S.BANNED,),
    "former": (S.UNSUBSCRIBED, S.REMOVED),
    "all": tuple(S.values),
}
REMOVALS: dict[str, Callable[..., Any]] = {
    "remove": membership_actions.remove, "ban": membership_actions.ban,
    "unban": membership_actions.unban}
ONLY_OWNERS_CHANGE_ROLES = _("Only owners change roles.")


def filtered(group: Group, *, status: str = "", role: str = "", delivery: str = "",
             posting: str = "", bouncing: bool = False, q: str = "") -> QuerySet[Membership]:
    """The group's rows under the member list's filters (status "all" = every row)."""
    rows = Membership.objects.filter(group=group)
    if status != "all":
        rows = rows.filter(status__in=STATUS_SETS[status])
    for value, column in ((role, "role"), (delivery, "delivery"), (posting, "posting_status")):
        if value:
            rows = rows.filter(**{column: value})
    if bouncing:
        rows = rows.filter(bounce_state=Membership.BounceState.BOUNCING)
    q = q.strip()
    if q:
        rows = rows.filter(Q(email__icontains=q) | Q(display_name__icontains=q))
    return rows


def may_act_on(is_owner: bool, m: Membership) -> bool:
    """Owners act on anyone; moderators on plain members only."""
    return is_owner or m.role == R.MEMBER


def keeps_an_owner(group: Group, leaving: list[int]) -> bool:
    return Membership.objects.filter(group=group, role=R.OWNER, status=S.ACTIVE).exclude(
        pk__in=leaving).exists()


def apply_bulk(group: Group, is_owner: bool, action: str, ids: list[int], actor: str
               ) -> tuple[int, str]:
    """Apply one bulk action to the group's rows ``ids``: (rows changed, refusal or "")."""
    if action.startswith("role_"):
        if not is_owner:
            return 0, ONLY_OWNERS_CHANGE_ROLES
        return set_roles(group, ids, action.removeprefix("role_"), actor=actor)
    rows = Membership.objects.filter(group=group, pk__in=ids)
    if not is_owner:  # moderators act on plain members only
        rows = rows.filter(role=R.MEMBER)
    change: Callable[[int], object]
    if action.startswith("delivery_"):
        mode = action.removeprefix("delivery_")
        change = lambda pk: membership_actions.set_delivery(pk, mode, actor=actor)  # noqa: E731
    elif action.startswith("posting_"):
        status = action.removeprefix("posting_")
        change = lambda pk: membership_actions.set_posting_status(  # noqa: E731
            pk, status, actor=actor)
    else:
        if rows.filter(role=R.OWNER).exists() and not keeps_an_owner(group, ids):
            return 0, LAST_OWNER
        act = REMOVALS[action]
        change = lambda pk: act(pk, actor=actor)  # noqa: E731
    with transaction.atomic():  # all or none
        return sum(change(pk) is not None for pk in rows.values_list("pk", flat=True)), ""


def save_settings(group: Group, m: Membership, data: dict, actor: str) -> str:
    """Apply the member settings that changed, each through its own rule, all or none.

    ``data`` may hold role, display_name, delivery and posting_status; a key left out
    is left alone. Returns a refusal ("" when done).
    """
    with transaction.atomic():
        if "role" in data and data["role"] != m.role:
            _, refusal = set_roles(group, [m.pk], data["role"], actor=actor)
            if refusal:
                transaction.set_rollback(True)
                return refusal
        if "display_name" in data and data["display_name"] != m.display_name:
            Membership.objects.filter(pk=m.pk).update(display_name=data["display_name"])
            activitylog.record(group, actor=actor, verb="set_name", target=m.email,
                               detail={"display_name": [m.display_name,
                                                        data["display_name"]]})
        if "delivery" in data and data["delivery"] != m.delivery:
            membership_actions.set_delivery(m.pk, data["delivery"], actor=actor)
        if "posting_status" in data and data["posting_status"] != m.posting_status:
            membership_actions.set_posting_status(m.pk, data["posting_status"], actor=actor)
    return ""


def remove(group: Group, m: Membership, how: str, actor: str, reason: str = ""
           ) -> tuple[bool, str]:
    """Remove, ban or unban one member: (done, refusal). Refused for the last owner."""
    if how != "unban" and m.role == R.OWNER and not keeps_an_owner(group, [m.pk]):
        return False, LAST_OWNER
    done = REMOVALS[how](m.pk, actor=actor, reason=reason)
    return done is not None, ""
