"""Adding people to groups: the one place the command line and the web both use.

``add_members`` is made for bulk: it validates and de-duplicates in memory,
finds the addresses already subscribed with one query, and inserts the rest
with bulk_create, so 10,000 addresses take a couple of seconds, not minutes.
Bad and duplicate addresses are reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from groups import activitylog, senderrules
from groups.models import Group, Membership, User
from messageserver import webhookevents

LAST_OWNER = _("A group keeps at least one owner.")


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    banned: list[str] = field(default_factory=list)
    not_in_parent: list[str] = field(default_factory=list)  # a subgroup's outsiders

    def summary(self) -> str:
        return _("%(added)d added, %(already)d already members, %(duplicates)d duplicates, "
                 "%(invalid)d invalid, %(banned)d banned") % {
            "added": len(self.added), "already": len(self.already),
            "duplicates": len(self.duplicates), "invalid": len(self.invalid),
            "banned": len(self.banned)}


def parse_entry(entry: str) -> tuple[str, str]:
    """'Name <a@b>', 'a@b' or a CSV row 'a@b,Name' -> (email, name)."""
    entry = entry.strip()
    if "," in entry and "<" not in entry:
        first, _, rest = entry.partition(",")
        if "@" in first:
            return first.strip().strip('"').lower(), rest.strip().strip('"')
        return rest.strip().strip('"').lower(), first.strip().strip('"')
    name, addr = parseaddr(entry)
    return (addr or entry).strip().lower(), name.strip()


# What adding or inviting does to one address (the preview page shows these).
ADD, INVITE, ALREADY, FORMER, BANNED, INVALID, DUPLICATE, NOT_IN_PARENT = (
    "add", "invite", "already", "former", "banned", "invalid", "duplicate", "not_in_parent")
OUTCOME_LABELS = {
    ADD: _("will be added"), INVITE: _("will be invited"), ALREADY: _("already a member"),
    FORMER: _("left or was removed before: not changed (they may join again themselves)"),
    BANNED: _("banned: not added"), INVALID: _("invalid address"), DUPLICATE: _("listed twice"),
    NOT_IN_PARENT: _("not a member of the parent group: not added"),
}
# Existing rows that count as "already a member" (in, or on the way in).
_IN = frozenset({Membership.Status.ACTIVE, Membership.Status.INVITED,
                 Membership.Status.PENDING_APPROVAL, Membership.Status.PENDING_CONFIRM})


@dataclass(frozen=True)
class Planned:
    """One address of an upload and what adding (or inviting) will do to it."""

    entry: str
    email: str
    name: str
    outcome: str

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self.outcome]


def plan(group: Group, entries: Iterable[str], *, invite: bool = False) -> list[Planned]:
    """What ``add_members`` would do to each entry, without doing it (the preview).

    Reads the group's rows for the addresses in batches and its bans once, so a
    10,000-line upload costs a dozen queries.
    """
    planned: list[Planned] = []
    wanted: dict[str, str] = {}
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        email, name = parse_entry(entry)
        try:
            validate_email(email)
        except ValidationError:
            planned.append(Planned(entry.strip(), email, name, INVALID))
            continue
        if email in wanted:
            planned.append(Planned(entry.strip(), email, name, DUPLICATE))
            continue
        wanted[email] = name
        planned.append(Planned(entry.strip(), email, name, ""))
    emails = list(wanted)
    statuses: dict[str, str] = {}
    for i in range(0, len(emails), 900):  # stay under SQLite's variable limit
        statuses.update(Membership.objects.filter(group=group, email__in=emails[i:i + 900])
                        .values_list("email", "status"))
    banned = senderrules.banned_among(group, emails)
    in_parent: set[str] | None = None
    if group.parent_id is not None:  # a subgroup takes only its parent's members
        in_parent = set()
        for i in range(0, len(emails), 900):
            in_parent.update(Membership.objects.filter(
                group_id=group.parent_id, status=Membership.Status.ACTIVE,
                email__in=emails[i:i + 900]).values_list("email", flat=True))
    out = []
    for p in planned:
        if not p.outcome:
            status = statuses.get(p.email)
            if status == Membership.Status.BANNED or p.email in banned:
                outcome = BANNED
            elif in_parent is not None and p.email not in in_parent:
                outcome = NOT_IN_PARENT
            elif status in _IN:
                outcome = ALREADY
            elif status is not None:
                outcome = FORMER
            else:
                outcome = INVITE if invite else ADD
            p = Planned(p.entry, p.email, p.name, outcome)
        out.append(p)
    return out


def add_members(group: Group, entries: Iterable[str], *,
                delivery: str = Membership.Delivery.INDIVIDUAL,
                role: str = Membership.Role.MEMBER,
                status: str = Membership.Status.ACTIVE,
                actor: str = activitylog.SYSTEM) -> AddReport:
    """Create the rows for new addresses (active, or invited); each is in the activity log.

    Does what ``plan`` says: the preview and the deed can't disagree.
    """
    invite = status == Membership.Status.INVITED
    report = AddReport()
    planned = plan(group, entries, invite=invite)
    new = [p for p in planned if p.outcome in (ADD, INVITE)]
    users: dict[str, int] = {}
    emails = [p.email for p in new]
    for i in range(0, len(emails), 900):
        users.update(User.objects.filter(email__in=emails[i:i + 900]).values_list("email", "id"))
    for p in planned:
        if p.outcome in (ALREADY, FORMER):
            report.already.append(p.email)
        elif p.outcome == BANNED:
            report.banned.append(p.email)
        elif p.outcome == NOT_IN_PARENT:
            report.not_in_parent.append(p.email)
        elif p.outcome == DUPLICATE:
            report.duplicates.append(p.email)
        elif p.outcome == INVALID:
            report.invalid.append((p.entry, "not a valid email address"))
        else:
            report.added.append(p.email)
    rows = [Membership(group=group, email=p.email, display_name=p.name[:150],
                       user_id=users.get(p.email), role=role, status=status,
                       delivery=delivery) for p in new]
    with transaction.atomic():
        Membership.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
        activitylog.record_many(
            group, actor=actor, targets=report.added, verb=INVITE if invite else ADD,
            detail={"role": role, "delivery": delivery} if role != Membership.Role.MEMBER
            else {"delivery": delivery})
        added = set(report.added)
        webhookevents.members_added(group, [r for r in rows if r.email in added], actor)
    return report


def set_roles(group: Group, ids: Iterable[int], role: str, *, actor: str) -> tuple[int, str]:
    """Give the memberships ``ids`` of ``group`` a role: (how many changed, refusal or "").

    The one place roles change (a role is not a membership state: no transition,
    no notice). Refused when it would leave the group without an active owner.
    Each change is written to the activity log in the same transaction.
    """
    role = Membership.Role(role).value
    ids = list(ids)
    with transaction.atomic():
        if role != Membership.Role.OWNER and not Membership.objects.filter(
                group=group, role=Membership.Role.OWNER, status=Membership.Status.ACTIVE
        ).exclude(pk__in=ids).exists():
            return 0, LAST_OWNER
        changed = list(Membership.objects.select_for_update().filter(
            group=group, pk__in=ids).exclude(role=role).values_list("pk", "email", "role"))
        Membership.objects.filter(pk__in=[pk for pk, _, _ in changed]).update(role=role)
        for _, email, before in changed:
            activitylog.record(group, actor=actor, verb="set_role", target=email,
                               detail={"role": [before, role]})
    return len(changed), ""


def subscribe_user(group: Group, user: User, **fields) -> Membership:
    membership, _ = Membership.objects.get_or_create(
        group=group, email=user.email.lower(),
        defaults={"user": user, "display_name": user.display_name, **fields})
    return membership

