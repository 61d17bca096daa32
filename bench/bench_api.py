"""Public API benchmark: page through 100,000 members, and post, through /api/v1/.

    python bench/bench_api.py                        # 100,000 members, SQLite (+ PostgreSQL)
    python bench/bench_api.py --members 20000 --backends sqlite --posts 50

For each database (a fresh SQLite file in a temporary DATA_DIR; a fresh PostgreSQL
database ``groups_bench_api`` on BENCH_PG_URL's server, skipped with a note when
unreachable) it:

1. generates one group with ``--members`` memberships (bench_members.generate) and
   an owner with a read-write API key;
2. lists every member through ``GET /api/v1/groups/big/members`` page by page,
   following the cursor (``next``), at 100 and at 1,000 per page, through the whole
   Django request (key check, rate limit, view, JSON); and, as the reference measured
   in the same run, the database alone reading the same pages (the same keyset query,
   the same columns, no HTTP, no JSON): the ratio is what the API adds;
3. starts a real messageserver (its own process, real HTTP) and posts ``--posts``
   topics to a small group through ``POST /api/v1/groups/small/topics``; the reference
   is the same post sent straight to messageserver with its client (what the website's
   post form does), alternating, so both meet the same machine.

Prints members/s and pages' p50/p95, posts' p50/p95, and each ratio to its reference.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.backends import run_each  # noqa: E402
from bench.bench_members import generate  # noqa: E402
from bench.timing import percentile  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/groups_bench_api")
MEMBERS = 100_000
POSTS = 100
FIELDS = ("id", "email", "display_name", "role", "status", "delivery", "posting_status",
          "joined_at", "bounce_state", "bounce_score")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def list_all(client, headers: dict, group: str, size: int) -> tuple[int, list[float], float]:
    """Every member through the API: (members seen, ms per page, seconds in all)."""
    url, seen, pages = f"/api/v1/groups/{group}/members?status=all&page_size={size}", 0, []
    start = time.perf_counter()
    while url:
        t = time.perf_counter()
        response = client.get(url, headers=headers)
        body = response.json()
        pages.append((time.perf_counter() - t) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code} {body}")
        seen += len(body["results"])
        url = body["next"] and body["next"].split("testserver", 1)[-1]
    return seen, pages, time.perf_counter() - start


def read_all(group, size: int) -> tuple[int, list[float], float]:
    """The reference: the same pages straight from the database (keyset by address)."""
    from groups.models import Membership

    last, seen, pages = None, 0, []
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        rows = Membership.objects.filter(group=group).order_by("email")
        if last is not None:
            rows = rows.filter(email__gt=last)
        page = list(rows.values(*FIELDS)[:size])
        pages.append((time.perf_counter() - t) * 1000)
        if not page:
            break
        seen += len(page)
        last = page[-1]["email"]
    return seen, pages, time.perf_counter() - start


def run_one(vendor: str, n: int, posts: int) -> int:
    import django
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    settings.API_RATE_LIMIT = "1000000/m"
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from groups import apikeys
    from groups.models import Group, Membership

    call_command("migrate", verbosity=0)

    def say(line: str) -> None:
        print(f"[{vendor}] {line}", flush=True)

    group, owner = generate(n, say)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    _row, key = apikeys.create(owner, "bench", scope="write")
    headers = {"Authorization": f"Bearer {key}"}
    client = Client()
    for size in (100, 1000):
        seen, pages, total = list_all(client, headers, group.name, size)
        ref_seen, ref_pages, ref_total = read_all(group, size)
        assert seen == ref_seen == n + 1, (seen, ref_seen)
        say(f"list {seen:,} members by the API, {size} per page: {total:.2f} s = "
            f"{seen / total:,.0f} members/s; page p50 {percentile(pages, 50):.1f} ms, "
            f"p95 {percentile(pages, 95):.1f} ms | database alone: {ref_total:.2f} s = "
            f"{ref_seen / ref_total:,.0f} members/s, page p50 {percentile(ref_pages, 50):.1f} "
            f"ms | API/database time {total / ref_total:.2f}x")

    small = Group.objects.create(name="small", title="A small group")
    for i in range(10):
        Membership.objects.create(group=small, email=f"s{i}@example.net")
    Membership.objects.create(group=small, user=owner, email=owner.email, role="owner")
    port = _free_port()
    env = dict(os.environ, MESSAGESERVER_PORT=str(port),
               MESSAGESERVER_URL=f"http://127.0.0.1:{port}",
               KARL_URL=f"http://127.0.0.1:{_free_port()}")  # nobody: jobs wait in the outbox
    os.environ["MESSAGESERVER_URL"] = env["MESSAGESERVER_URL"]
    server = subprocess.Popen([sys.executable, "-m", "messageserver", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        from messageserver.client import MessageServerClient

        direct = MessageServerClient()
        for _ in range(100):
            try:
                direct.health()
                break
            except Exception:
                time.sleep(0.1)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per call otherwise
        direct.post("small", owner.email, "Warm-up", "The first post opens what stays open.")
        api_ms, ref_ms = [], []
        for i in range(posts):
            t = time.perf_counter()
            response = client.post("/api/v1/groups/small/topics", headers=headers,
                                   data={"subject": f"API post {i}", "body": "Hello " * 200},
                                   content_type="application/json")
            api_ms.append((time.perf_counter() - t) * 1000)
            if response.status_code != 201:
                raise SystemExit(f"post: HTTP {response.status_code} {response.json()}")
            t = time.perf_counter()
            direct.post("small", owner.email, f"Direct post {i}", "Hello " * 200)
            ref_ms.append((time.perf_counter() - t) * 1000)
        ratio = percentile(api_ms, 50) / max(percentile(ref_ms, 50), 0.01)
        say(f"post {posts} topics by the API: p50 {percentile(api_ms, 50):.1f} ms, p95 "
            f"{percentile(api_ms, 95):.1f} ms, {posts / (sum(api_ms) / 1000):.1f} posts/s | "
            f"straight to messageserver (the web form's path): p50 "
            f"{percentile(ref_ms, 50):.1f} ms | API/direct {ratio:.2f}x")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a hand-off to the absent Karl still waiting
            server.kill()
            server.wait()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Each figure is printed beside its reference, measured in the same run.")
    parser.add_argument("--members", type=int, default=MEMBERS,
                        help=f"members in the group (default {MEMBERS:,})")
    parser.add_argument("--posts", type=int, default=POSTS,
                        help=f"topics posted through the API (default {POSTS})")
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default both)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.members < 1000 or args.posts < 1:
        parser.error("--members must be at least 1000, --posts at least 1")
    if args.one:
        return run_one(args.one, args.members, args.posts)
    print(f"API benchmark: {args.members:,} members, {args.posts} posts", flush=True)
    try:
        return run_each(__file__, args.backends, PG_URL, ["--members", str(args.members), "--posts", str(args.posts)],
                        prefix="bench-api-", extra_env={"SENDER_AUTH": "off"})
    except ValueError as exc:
        parser.error(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
