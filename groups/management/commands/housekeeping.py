"""manage.py housekeeping: expire held messages, send monthly guidelines, index what search lacks."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cronjobs.housekeeping import run_housekeeping


class Command(BaseCommand):
    help = ("Expire held messages past their group's limit (telling each poster), send "
            "the monthly guidelines reminders that are due, and index recent messages the "
            "search index lacks. Safe to run twice.")

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Pretend it is this ISO time (for testing).")

    def handle(self, *args, **options):
        now = parse_datetime(options["now"]) if options["now"] else timezone.now()
        self.stdout.write(run_housekeeping(now))
