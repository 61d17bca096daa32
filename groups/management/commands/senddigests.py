"""manage.py senddigests [--group G] [--dry-run] [--now T]: send the digests due now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cronjobs.cli import add_now_argument, now_from
from cronjobs.digests import send_digests
from groups.models import Group


class Command(BaseCommand):
    help = ("Send every digest, plain digest and daily summary that is due: at each member's "
            "own hour in their time zone, or early once enough messages have gathered. "
            "Idempotent: run it twice and nothing is sent twice. Beat runs it hourly.")

    def add_arguments(self, parser):
        parser.add_argument("--group", metavar="NAME", help="Only this group.")
        parser.add_argument("--dry-run", action="store_true",
                            help="List the digests that are due; send nothing.")
        add_now_argument(parser)

    def handle(self, *args, **options):
        group = None
        if options["group"]:
            group = Group.objects.filter(name=options["group"].strip().lower()).first()
            if group is None:
                raise CommandError(f"no group named {options['group']!r}")
        report = send_digests(now_from(options), group=group, dry_run=options["dry_run"])
        for p in report.planned if options["dry_run"] else report.sent:
            self.stdout.write(f"{'due' if options['dry_run'] else 'sent'}: {p.kind} "
                              f"#{p.numbers[0]}-#{p.numbers[-1]} to {p.membership.email} in "
                              f"{p.membership.group.name} ({p.reason})")
        self.stdout.write(self.style.SUCCESS(report.summary()))
