"""manage.py outbox: the mail waiting for Karl, and what Karl refused (see messageserver.outboxfailures)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from groups.models import OutboxItem
from messageserver import karlnodes, outboxfailures
from messageserver.outbox import retry_failed


class Command(BaseCommand):
    help = ("Show the outbox (mail queued for Karl) by state; --failed lists what Karl "
            "refused (reported to errord, retried every OUTBOX_REFUSED_RETRY seconds); "
            "--retry [ID ...] sends failed items again now (all of them without IDs); "
            "--nodes shows each Karl node (KARL_URLS): healthy or down, rows waiting for it, "
            "rows it took; --fanouts shows each post's fan-out whose jobs are still being "
            "built (messageserver.fanoutcontinuation): recipients done of total, who holds it.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--failed", action="store_true",
                          help="list the failed items: id, group, what, attempts, Karl's answer")
        what.add_argument("--retry", nargs="*", type=int, metavar="ID",
                          help="retry these failed items now (no ID: every failed item)")
        what.add_argument("--nodes", action="store_true",
                          help="each Karl node: healthy or down (asked now), rows waiting "
                               "for it, rows handed to it")
        what.add_argument("--fanouts", action="store_true",
                          help="fan-outs still being built: id, post, state, recipients done "
                               "of total, jobs built, who holds it, last error")
        parser.add_argument("--group", help="only this group's items (with --failed)")
        parser.add_argument("--limit", type=int, default=100,
                            help="list at most this many (default 100)")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if options["retry"] is not None:
            ids = options["retry"] or None
            if ids:
                known = set(outboxfailures.failed_items().filter(id__in=ids)
                            .values_list("id", flat=True))
                missing = sorted(set(ids) - known)
                if missing:
                    raise CommandError(f"not failed outbox items: {', '.join(map(str, missing))}"
                                       " (see manage.py outbox --failed)")
            count = retry_failed(ids)
            self.stdout.write(f"{count} failed item{'s' if count != 1 else ''} queued again; "
                              "messageserver's dispatcher sends them on its next pass")
            return
        if options["nodes"]:
            for node in karlnodes.node_states():
                note = "" if node.configured else "  (not in KARL_URLS any more)"
                self.stdout.write(f"{node.url:<40} {'healthy' if node.healthy else 'DOWN':<8} "
                                  f"waiting {node.waiting:>6}  handed off {node.handed_off:>8}"
                                  f"{note}")
            return
        if options["fanouts"]:
            rows = (OutboxItem.objects.filter(kind=OutboxItem.Kind.FANOUT)
                    .exclude(state=OutboxItem.State.DONE).order_by("id")[:options["limit"]])
            if not rows:
                self.stdout.write("no fan-out being built")
            for item in rows:
                p = item.payload
                held = f"held by {item.claimed_by} since {item.claimed_at:%H:%M:%S}" if (
                    item.state == OutboxItem.State.SENDING and item.claimed_at) else (
                    f"next {item.next_attempt_at:%H:%M:%S}")
                self.stdout.write(
                    f"{item.id:>8}  {item.description:<40} {item.state:<8} "
                    f"{p.get('recipients_done', 0):>8} of {p.get('total', 0):<8} recipients, "
                    f"{p.get('parts_done', 0)} jobs built  {held}  "
                    f"{' '.join(item.last_error.split())[:200]}")
            return
        if options["failed"]:
            rows = outboxfailures.failed_items(options["group"])[:options["limit"]]
            if not rows:
                self.stdout.write("no failed outbox items")
            for item in rows:
                self.stdout.write(
                    f"{item.id:>8}  {item.created_at:%Y-%m-%d %H:%M}  "
                    f"{outboxfailures.group_name(item) or '-':<20} {item.description:<40} "
                    f"attempts {item.attempts}, next {item.next_attempt_at:%H:%M}  "
                    f"{' '.join(item.last_error.split())[:200]}")
            return
        counts = dict(OutboxItem.objects.values_list("state").annotate(n=Count("id"))
                      .values_list("state", "n"))
        for state, label in OutboxItem.State.choices:
            self.stdout.write(f"{state:<8} {counts.get(state, 0):>8}  {label}")
