"""manage.py eventreminders: post the calendar reminders that are due."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cronjobs.cli import add_now_argument, now_from
from groups.calendar import send_reminders


class Command(BaseCommand):
    help = ("Post to each group the reminders of its calendar events that are due (an "
            "occurrence's reminder time has come). Safe to run twice: each occurrence is "
            "reminded once.")

    def add_arguments(self, parser):
        add_now_argument(parser)

    def handle(self, *args, **options):
        self.stdout.write(send_reminders(now_from(options)))
