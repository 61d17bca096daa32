"""manage.py deadletters: list recipients Karl bounced or expired (newest first)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from karl.client import KarlClient, KarlError, KarlUnavailable
from platformcore.env import get_env


class Command(BaseCommand):
    help = ("List permanently failed deliveries (bounced or expired) from Karl's spool; "
            "with several Karl nodes (KARL_URLS), from each node (--node URL for one).")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--limit", type=int, default=50, help="how many (default 50)")
        parser.add_argument("--offset", type=int, default=0, help="skip this many first")
        parser.add_argument("--json", action="store_true", help="print JSON lines")
        parser.add_argument("--node", help="only this Karl node (a base URL of KARL_URLS)")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        urls = get_env().karl_urls
        if options["node"]:
            node = options["node"].rstrip("/")
            if node not in urls:
                raise CommandError(f"--node {node} is not in KARL_URLS ({', '.join(urls)})")
            urls = (node,)
        several = len(get_env().karl_urls) > 1
        rows = []
        for url in urls:
            try:
                found = KarlClient(base_url=url).dead_letters(limit=options["limit"],
                                                              offset=options["offset"])
            except (KarlError, KarlUnavailable) as exc:
                raise CommandError(str(exc)) from exc
            rows += [{**row, "node": url} if several else row for row in found]
        rows.sort(key=lambda row: str(row.get("at", "")), reverse=True)
        if not rows:
            self.stdout.write("no dead letters")
        for row in rows[:options["limit"]]:
            if options["json"]:
                self.stdout.write(json.dumps(row))
            else:
                where = f"  at {row['node']}" if several else ""
                self.stdout.write(f"{row['at']}  {row['state']:<8} {row['address']:<40} "
                                  f"job {row['job_id']}  {row.get('code') or '-'} "
                                  f"{(row.get('reply') or '')[:100]}{where}")
