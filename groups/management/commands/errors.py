"""manage.py errors: what crashed, where and how often (read from errord).

    manage.py errors                      groups seen in the last day
    manage.py errors --since 1h --service karl
    manage.py errors --follow             then print new occurrences until Ctrl-C
    manage.py errors --show FINGERPRINT   one group with its traceback
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from errord.client import ErrordClient, ErrordError, ErrordUnavailable
from errord.durations import parse_duration
from errord.table import detail, occurrence_line, table


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        import argparse

        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = "Show the error groups errord has collected: count, last seen, service, error, where."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_duration, default=parse_duration("1d"),
                            metavar="DURATION", help="only groups seen this recently "
                            "(e.g. 30m, 1h, 2d; default 1d)")
        parser.add_argument("--service", help="only this service (web, smtpd, karl, ...)")
        parser.add_argument("--limit", type=int, default=50, help="at most this many groups")
        parser.add_argument("--follow", action="store_true",
                            help="keep polling and print new occurrences until Ctrl-C")
        parser.add_argument("--interval", type=float, default=2.0,
                            help="seconds between polls with --follow (default 2)")
        parser.add_argument("--polls", type=int, default=0,
                            help="with --follow, stop after this many polls (0: never)")
        parser.add_argument("--show", metavar="FINGERPRINT",
                            help="print one group with its traceback and recent occurrences")

    def handle(self, *args, **options):
        if not 1 <= options["limit"] <= 1000:
            raise CommandError("--limit must be between 1 and 1000")
        client = ErrordClient()
        try:
            if options["show"]:
                self.stdout.write(detail(client.group(options["show"])))
                return
            groups = client.groups(since=options["since"], service=options["service"],
                                   limit=options["limit"])
            self._print_table(groups, options)
            if options["follow"]:
                self._follow(client, groups, options)
        except ErrordUnavailable as exc:
            raise CommandError(f"{exc}. Is errord running (python -m errord, or make run)?"
                               ) from None
        except ErrordError as exc:
            raise CommandError(str(exc)) from None
        finally:
            client.close()

    def _print_table(self, groups, options) -> None:
        scope = f" from {options['service']}" if options["service"] else ""
        if not groups:
            self.stdout.write(f"No errors{scope} in the last {self._span(options['since'])}.")
            return
        self.stdout.write(table(groups))
        total = sum(g["count"] for g in groups)
        self.stdout.write(f"\n{len(groups)} error groups, {total} occurrences{scope} in the last "
                          f"{self._span(options['since'])}. Details: manage.py errors --show ID")

    @staticmethod
    def _span(seconds: int) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    def _follow(self, client: ErrordClient, groups, options) -> None:
        seen = {g["fingerprint"]: g["count"] for g in groups}
        self.stdout.write("Following new errors (Ctrl-C stops)...")
        polls, unreachable = 0, False
        try:
            while not options["polls"] or polls < options["polls"]:
                time.sleep(options["interval"])
                polls += 1
                try:
                    current = client.groups(since=max(options["since"], 60),
                                            service=options["service"], limit=1000)
                except ErrordUnavailable as exc:
                    if not unreachable:
                        self.stderr.write(f"{exc}; still trying")
                    unreachable = True
                    continue
                if unreachable:
                    self.stderr.write("errord is reachable again")
                    unreachable = False
                for group in reversed(current):  # oldest first, like a log
                    new = group["count"] - seen.get(group["fingerprint"], 0)
                    if new > 0:
                        self.stdout.write(occurrence_line(group, new))
                    seen[group["fingerprint"]] = group["count"]
        except KeyboardInterrupt:
            self.stdout.write("")
