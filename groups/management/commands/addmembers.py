"""manage.py addmembers NAME EMAIL... | --file F [--delivery MODE]"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from groups.membership import add_members
from groups.models import Group, Membership


class Command(BaseCommand):
    help = ("Subscribe addresses to a group in bulk. Each entry is an address, 'Name <address>'"
            " or a CSV row 'address,Name'. Invalid and duplicate entries are reported, not fatal.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="The group's name.")
        parser.add_argument("emails", nargs="*", help="Addresses to add.")
        parser.add_argument("--file", help="A file with one entry per line ('-' for stdin).")
        parser.add_argument("--delivery", choices=Membership.Delivery.values,
                            default=Membership.Delivery.INDIVIDUAL)
        parser.add_argument("--role", choices=Membership.Role.values,
                            default=Membership.Role.MEMBER)

    def handle(self, *args, **options):
        group = Group.objects.filter(name=options["name"].lower()).first()
        if group is None:
            raise CommandError(f"no group named {options['name']}")
        entries = list(options["emails"])
        if options["file"]:
            try:
                fh = sys.stdin if options["file"] == "-" else open(options["file"],
                                                                   encoding="utf-8-sig")
            except OSError as exc:
                raise CommandError(f"cannot read {options['file']}: {exc}") from None
            with fh:
                entries.extend(line.rstrip("\r\n") for line in fh)
        if not entries:
            raise CommandError("give addresses or --file")
        report = add_members(group, entries, delivery=options["delivery"], role=options["role"])
        for entry, why in report.invalid:
            self.stderr.write(f"invalid: {entry}: {why}")
        for email in report.duplicates:
            self.stderr.write(f"duplicate in input: {email}")
        for email in report.already:
            self.stderr.write(f"already a member: {email}")
        self.stdout.write(self.style.SUCCESS(f"{group.name}: {report.summary()}"))
