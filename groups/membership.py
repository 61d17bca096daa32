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

from groups.models import Group, Membership, User


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.already)} already members, "
                f"{len(self.duplicates)} duplicates, {len(self.invalid)} invalid")


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


def add_members(group: Group, entries: Iterable[str], *,
                delivery: str = Membership.Delivery.INDIVIDUAL,
                role: str = Membership.Role.MEMBER,
                status: str = Membership.Status.ACTIVE) -> AddReport:
    report = AddReport()
    wanted: dict[str, str] = {}
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        email, name = parse_entry(entry)
        try:
            validate_email(email)
        except ValidationError:
            report.invalid.append((entry.strip(), "not a valid email address"))
            continue
        if email in wanted:
            report.duplicates.append(email)
            continue
        wanted[email] = name
    existing = set()
    emails = list(wanted)
    for i in range(0, len(emails), 900):  # stay under SQLite's variable limit
        existing.update(Membership.objects.filter(group=group, email__in=emails[i:i + 900])
                        .values_list("email", flat=True))
    users = {}
    for i in range(0, len(emails), 900):
        users.update(User.objects.filter(email__in=emails[i:i + 900]).values_list("email", "id"))
    rows = []
    for email, name in wanted.items():
        if email in existing:
            report.already.append(email)
            continue
        rows.append(Membership(group=group, email=email, display_name=name[:150],
                               user_id=users.get(email), role=role, status=status,
                               delivery=delivery))
        report.added.append(email)
    with transaction.atomic():
        Membership.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return report


def subscribe_user(group: Group, user: User, **fields) -> Membership:
    membership, _ = Membership.objects.get_or_create(
        group=group, email=user.email.lower(),
        defaults={"user": user, "display_name": user.display_name, **fields})
    return membership

