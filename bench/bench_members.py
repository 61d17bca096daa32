"""Member list and activity log benchmark: 100,000 members in one group.

    python bench/bench_members.py                      # 100,000 members, SQLite (+ PostgreSQL)
    python bench/bench_members.py --members 20000 --backends sqlite --repeat 10

For each database (a fresh SQLite file in a temporary DATA_DIR; a fresh
PostgreSQL database ``groups_bench_members`` on BENCH_PG_URL's server, skipped
with a note when unreachable) it:

1. generates one group with ``--members`` memberships (bulk insert, with
   progress): a mix of roles, delivery modes, posting statuses, bouncing and
   pending members; and ``2 x --members`` activity-log entries;
2. renders, logged in as the owner through Django's test client (the whole
   request: middleware, view, template), the member list's first page, a
   filtered page, a search, a page deep in the middle and the last page; the
   activity log's first page, last page and a search; and prints p50/p95;
3. measures in the same run the reference: the naive query of the same page
   (COUNT(*) and ORDER BY ... LIMIT 50 OFFSET n, what Django's Paginator
   does), database time only, and prints each page's ratio to it.

Target: every page p95 < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.backends import run_each  # noqa: E402
from bench.timing import percentile, timed  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL",
                        "postgres://postgres@127.0.0.1:5432/groups_bench_members")
MEMBERS = 100_000
BATCH = 5_000
TARGET_MS = 100


def generate(n: int, say: Callable[[str], None]) -> tuple[object, object]:
    """The group, its owner (a User) and n members, 2n log entries; progress as it goes."""
    from django.utils import timezone

    from groups.models import ActivityEntry, Group, Membership, User

    group = Group.objects.create(name="big", title="A big group")
    owner = User.objects.create_user("owner", "owner@example.org", "x" * 20,
                                     email_confirmed=True)
    Membership.objects.create(group=group, user=owner, email="owner@example.org",
                              role="owner")
    deliveries = ["individual"] * 6 + ["digest", "summary", "nomail", "plain_digest"]
    now = timezone.now()
    start = time.monotonic()
    for base in range(0, n, BATCH):
        rows = []
        for i in range(base, min(base + BATCH, n)):
            rows.append(Membership(
                group=group, email=f"m{i:06d}@example.net", display_name=f"Member {i}",
                role="moderator" if i % 1000 == 0 else "member",
                status="invited" if i % 97 == 0 else "active",
                delivery=deliveries[i % len(deliveries)],
                posting_status="moderated" if i % 50 == 0 else "default",
                bounce_state="bouncing" if i % 200 == 0 else "ok",
                joined_at=now - timedelta(minutes=i)))
        Membership.objects.bulk_create(rows, batch_size=BATCH)
        say(f"members {min(base + BATCH, n):,}/{n:,} "
            f"({time.monotonic() - start:.0f}s)")
    verbs = ["join", "set_delivery", "leave", "set_posting_status", "remove", "ban"]
    entries = 2 * n
    for base in range(0, entries, BATCH * 2):
        rows = [ActivityEntry(group=group, at=now - timedelta(seconds=entries - i),
                              actor="system" if i % 3 else "owner@example.org",
                              verb=verbs[i % len(verbs)], target=f"m{i % n:06d}@example.net",
                              detail={"status": ["active", "removed"]} if i % 6 == 4 else {})
                for i in range(base, min(base + BATCH * 2, entries))]
        ActivityEntry.objects.bulk_create(rows, batch_size=BATCH)
        say(f"log entries {min(base + BATCH * 2, entries):,}/{entries:,} "
            f"({time.monotonic() - start:.0f}s)")
    return group, owner


def naive(group, offset: int, **filters) -> Callable[[], object]:
    """The reference: COUNT(*) and LIMIT/OFFSET, as Django's Paginator runs them."""
    from groups.models import Membership

    def run() -> None:
        rows = Membership.objects.filter(group=group, **filters).order_by("email")
        rows.count()
        list(rows[offset:offset + 50])
    return run


def naive_log(group, offset: int) -> Callable[[], object]:
    from groups.models import ActivityEntry

    def run() -> None:
        rows = ActivityEntry.objects.filter(group=group).order_by("-at")
        rows.count()
        list(rows[offset:offset + 50])
    return run


def run_one(vendor: str, n: int, repeat: int) -> int:
    import django
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    call_command("migrate", verbosity=0)

    def say(line: str) -> None:
        print(f"[{vendor}] {line}", flush=True)

    group, owner = generate(n, say)
    if connection.vendor == "postgresql":  # what autovacuum does after a bulk load
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = Client()
    client.force_login(owner)
    members = reverse("mod_members", args=[group.name])
    log = reverse("mod_activity", args=[group.name])
    middle = f"m{n // 2:06d}%40example.net"
    pages = [
        ("member list, first page", members, naive(group, 0)),
        ("member list, filtered (delivery: digest)", f"{members}?delivery=digest",
         naive(group, 0, delivery="digest")),
        ("member list, search 'm04999'", f"{members}?q=m04999",
         naive(group, 0, email__icontains="m04999")),
        ("member list, search by name 'Member 777'", f"{members}?q=Member+777",
         naive(group, 0, display_name__icontains="Member 777")),
        ("member list, middle page", f"{members}?after={middle}", naive(group, n // 2)),
        ("member list, last page", f"{members}?last=1", naive(group, n - 50)),
        ("activity log, first page", log, naive_log(group, 0)),
        ("activity log, last page", f"{log}?last=1", naive_log(group, 2 * n - 50)),
        ("activity log, search 'm00042'", f"{log}?q=m00042", naive_log(group, 0)),
    ]
    for name, url, reference in pages:
        status = client.get(url).status_code
        ms = timed(lambda u=url: client.get(u), repeat)
        db = []
        for _ in range(repeat):
            spent = [0.0]
            with connection.execute_wrapper(_clock(spent)):
                client.get(url)
            db.append(spent[0] * 1000)
        ref = timed(reference, repeat)
        p50, p95 = percentile(ms, 50), percentile(ms, 95)
        say(f"{name} (HTTP {status}): p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(database {percentile(db, 50):.1f} ms); naive COUNT(*)+OFFSET query of the same "
            f"page p50 {percentile(ref, 50):.1f} ms, ratio database/naive "
            f"{percentile(db, 50) / max(percentile(ref, 50), 0.01):.2f}; target p95 < {TARGET_MS} ms"
            + ("" if p95 < TARGET_MS else "  <-- OVER"))
    return 0


def _clock(spent: list[float]) -> Callable:
    """A query wrapper adding each query's own time to ``spent[0]`` (seconds).

    Django's captured queries keep times rounded to the millisecond, which
    reads as 0 for every query of a fast page.
    """
    def wrapper(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - t
    return wrapper


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Prints p50/p95 per page and the naive query's time for the same page.")
    parser.add_argument("--members", type=int, default=MEMBERS,
                        help=f"members in the group (default {MEMBERS:,}); "
                             "the activity log gets twice as many entries")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (default 20)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.members < 1000 or args.repeat < 1:
        parser.error("--members must be at least 1000, --repeat at least 1")
    if args.one:
        return run_one(args.one, args.members, args.repeat)
    print(f"member list benchmark: {args.members:,} members, {2 * args.members:,} log entries",
          flush=True)
    try:
        return run_each(__file__, args.backends, PG_URL, ["--members", str(args.members), "--repeat", str(args.repeat)],
                        prefix="bench-members-")
    except ValueError as exc:
        parser.error(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
