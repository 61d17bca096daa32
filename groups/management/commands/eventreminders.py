"""manage.py eventreminders: post the calendar reminders that are due."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cronjobs.cli import add_now_argument, now_from
from groups.calendar import send_reminders
from groups.pollclosing import close_due


class Command(BaseCommand):
    help = ("Post to each group the reminders of its calendar events that are due (an "
            "occurrence's reminder time has come), and close the polls whose time is up, "
            "posting their results. Safe to run twice: each occurrence is reminded once, "
            "each poll closed once.")

    def add_arguments(self, parser):
        add_now_argument(parser)

    def handle(self, *args, **options):
        now = now_from(options)
        self.stdout.write(f"{send_reminders(now)}; {close_due(now)}")
