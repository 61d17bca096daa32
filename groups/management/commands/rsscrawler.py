"""manage.py rsscrawler [--feed ID] [--now T]: post new entries of the groups' feeds."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cronjobs.cli import add_now_argument, now_from
from cronjobs.rsscrawler import crawl
from groups.models import Feed


class Command(BaseCommand):
    help = ("Poll the RSS/Atom feeds that are due (or one feed, due or not) and post each "
            "entry not seen before to its group, from the feed's poster. Idempotent; beat "
            "runs it every 30 minutes.")

    def add_arguments(self, parser):
        parser.add_argument("--feed", type=int, metavar="ID", help="Poll only this feed now.")
        add_now_argument(parser)

    def handle(self, *args, **options):
        if options["feed"] is not None and not Feed.objects.filter(pk=options["feed"]).exists():
            raise CommandError(f"no feed with id {options['feed']}")
        results = crawl(now_from(options), feed_id=options["feed"])
        for r in results:
            line = f"feed {r.feed_id}: {r.status}"
            if r.posted:
                line += f", {len(r.posted)} posted"
            if r.error:
                line += f" ({r.error})"
            self.stdout.write(line)
        posted = sum(len(r.posted) for r in results)
        self.stdout.write(self.style.SUCCESS(f"{len(results)} feeds polled, {posted} posted"))
