"""manage.py bouncer [--now T]: mark bouncing members, send probes, remove or restore."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cronjobs.bouncer import run_bouncer
from cronjobs.cli import add_now_argument, now_from


class Command(BaseCommand):
    help = ("Process bounces: a hard bounce, or soft bounces on several days within a "
            "window, stops delivery and starts probes; a bounced probe counts towards removal "
            "(members and owners are told). Idempotent; beat runs it daily.")

    def add_arguments(self, parser):
        add_now_argument(parser)

    def handle(self, *args, **options):
        report = run_bouncer(now_from(options))
        for label, names in (("bouncing", report.marked), ("probed", report.probed),
                             ("removed", report.removed)):
            for name in names:
                self.stdout.write(f"{label}: {name}")
        self.stdout.write(self.style.SUCCESS(report.summary()))
