"""manage.py webhooks: send the webhook deliveries that are due (what the scheduler's
every-minute sweep does), or one delivery now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cronjobs.cli import add_now_argument, now_from
from cronjobs.webhooks import deliver, sweep
from groups.models import WebhookDelivery


class Command(BaseCommand):
    help = ("Send the webhook deliveries that are due (pending past their backoff, or "
            "claimed by a worker that died), or with --delivery ID one delivery now. Safe "
            "to run twice: a delivered one is never sent again.")

    def add_arguments(self, parser):
        add_now_argument(parser)
        parser.add_argument("--delivery", type=int, metavar="ID",
                            help="Send this pending delivery now, whatever its backoff says.")

    def handle(self, *args, **options):
        now = now_from(options)
        if options["delivery"]:
            if not WebhookDelivery.objects.filter(pk=options["delivery"]).exists():
                raise CommandError(f"no webhook delivery {options['delivery']}")
            result = deliver(options["delivery"], now, force=True)
            self.stdout.write(f"delivery {result.delivery_id}: {result.outcome}"
                              + (f" ({result.error})" if result.error else ""))
            return
        self.stdout.write(sweep(now))
