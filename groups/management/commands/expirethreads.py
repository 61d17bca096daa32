"""manage.py expirethreads [--now T]: lock or delete topics that have gone quiet."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cronjobs.cli import add_now_argument, now_from
from cronjobs.expirethreads import expire_threads


class Command(BaseCommand):
    help = ("Lock (or delete, per the hashtag) topics whose expiring hashtag's days have "
            "passed without a post, and auto-lock topics per the group's setting. "
            "Idempotent; beat runs it every 30 minutes.")

    def add_arguments(self, parser):
        add_now_argument(parser)

    def handle(self, *args, **options):
        report = expire_threads(now_from(options))
        self.stdout.write(self.style.SUCCESS(report.summary()))
