"""manage.py deadletters: list recipients Karl bounced or expired (newest first)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from karl.client import KarlClient, KarlError, KarlUnavailable


class Command(BaseCommand):
    help = "List permanently failed deliveries (bounced or expired) from Karl's spool."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--limit", type=int, default=50, help="how many (default 50)")
        parser.add_argument("--offset", type=int, default=0, help="skip this many first")
        parser.add_argument("--json", action="store_true", help="print JSON lines")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        try:
            rows = KarlClient().dead_letters(limit=options["limit"], offset=options["offset"])
        except (KarlError, KarlUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            self.stdout.write("no dead letters")
        for row in rows:
            if options["json"]:
                self.stdout.write(json.dumps(row))
            else:
                self.stdout.write(f"{row['at']}  {row['state']:<8} {row['address']:<40} "
                                  f"job {row['job_id']}  {row.get('code') or '-'} "
                                  f"{(row.get('reply') or '')[:100]}")
