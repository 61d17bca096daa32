"""Archive benchmark: a million messages in a thousand groups, searched and shown.

    python bench/bench_archive.py                 # 1,000,000 messages, SQLite and PostgreSQL
    python bench/bench_archive.py --messages 100000 --backends sqlite

For each database (a fresh SQLite file in a temporary DATA_DIR; a fresh
PostgreSQL database ``groups_bench`` on DATABASE_URL's server, skipped with a
note when unreachable) it:

1. generates the archive in bulk (raw SQL: executemany on SQLite, COPY on
   PostgreSQL) — groups (a third of them members-only), topics of 1-12
   messages, bodies of 40-160 words drawn from a Zipf-like vocabulary;
2. indexes it with the real code path (``manage.py reindex``: batches through
   the search backend) and prints messages/s;
3. runs a fixed query set through ``search.query`` as an anonymous visitor
   (every public group) and as a member of a few groups, and prints p50/p95
   against a reference in the same run: the same words found with a LIKE scan
   of the message table (the search a site without full-text would do);
4. renders a large group's topic list and one of its topic pages with
   Django's test client, against the same pages of a ten-message group.

Targets: search p95 < 100 ms, page renders < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/groups_bench")

QUERIES = [  # (words, groups filter: None = all readable)
    ("release", None), ("server migration", None), ('"build failure"', None),
    ("quarterly", None), ("zephyr", None), ("plugin -maven", None), ("deploy*", None),
    ("database index", None), ("meeting notes", "g0007"), ("release", "g0500"),
    ("apache commons", None), ("kernel panic", None),
]


def _words() -> list[str]:
    base = ("release server migration build failure quarterly plugin maven deploy database "
            "index meeting notes apache commons kernel panic test patch review commit branch "
            "merge issue bug feature version update config network cache memory thread lock "
            "queue worker schedule backup restore report user group list archive search mail "
            "digest topic reply forward subject header footer bounce member owner moderator "
            "policy privacy hidden public draft final vote proposal budget plan roadmap team "
            "design style guide doc wiki ticket sprint demo picnic garden music travel photo "
            "zephyr").split()
    return base + [f"word{i}" for i in range(3000)]


def _zipf_sampler(rng: random.Random, vocab: list[str]):
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(vocab))]
    shuffled = vocab[:]
    rng.shuffle(shuffled)
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)

    def sample(k: int) -> list[str]:
        return rng.choices(shuffled, cum_weights=cum, k=k)
    return sample


def generate(n_messages: int, n_groups: int, seed: int = 7) -> dict:
    """Write groups, topics and messages in bulk; returns what the later steps need."""
    from django.db import connection, transaction

    from groups.models import Group, Message, Topic

    rng = random.Random(seed)
    sample = _zipf_sampler(rng, _words())
    groups = [Group(name=f"g{i:04d}", title=f"Group {i}",
                    privacy=Group.Privacy.PRIVATE_ARCHIVE if i % 3 == 2 else Group.Privacy.PUBLIC)
              for i in range(n_groups)]
    groups.append(Group(name="tiny", title="Ten messages"))
    Group.objects.bulk_create(groups, batch_size=1000)
    group_ids = dict(Group.objects.values_list("name", "pk"))
    start = datetime(2021, 1, 1, tzinfo=UTC)
    span = 3 * 365 * 86400
    per_group = [0] * n_groups
    topics, messages = [], []
    topic_id, message_id = 0, 0
    # the "tiny" group gets 10 messages in two topics; the rest spread over the groups
    plan = [("tiny", 5), ("tiny", 5)]
    remaining = n_messages - 10
    while remaining > 0:
        size = min(remaining, rng.randint(1, 12))
        gi = min(int(rng.paretovariate(1.2)) - 1, n_groups - 1) if rng.random() < 0.3 \
            else rng.randrange(n_groups)
        plan.append((f"g{gi:04d}", size))
        remaining -= size
    numbers: dict[str, int] = {}
    for gname, size in plan:
        topic_id += 1
        t0 = start + timedelta(seconds=rng.randrange(span))
        subject = " ".join(sample(rng.randint(3, 7))).capitalize()
        first_id = message_id + 1
        for k in range(size):
            message_id += 1
            numbers[gname] = numbers.get(gname, 0) + 1
            when = t0 + timedelta(minutes=37 * k)
            body = " ".join(sample(rng.randint(40, 160)))
            sender = f"user{rng.randrange(20000)}"
            messages.append((message_id, group_ids[gname], topic_id, numbers[gname],
                             f"<m{message_id}@bench.example>", "", "", f"{sender}@example.org",
                             sender.title(), None, ("Re: " if k else "") + subject, when, when,
                             body, "", "import", False, False))
        topics.append((topic_id, group_ids[gname], subject, subject.lower(), t0,
                       t0 + timedelta(minutes=37 * (size - 1)), size, False, False,
                       first_id, message_id))
    for gname, count in numbers.items():
        if gname.startswith("g"):
            per_group[int(gname[1:])] = count
    t_cols = ("id", "group_id", "subject", "normalized_subject", "created_at", "last_post_at",
              "message_count", "locked", "sticky", "first_message_id", "last_message_id")
    m_cols = ("id", "group_id", "topic_id", "number", "message_id", "in_reply_to", "references",
              "sender_email", "sender_name", "membership_id", "subject", "date", "created_at",
              "body_text", "body_html", "source", "nonmember", "deleted")
    with transaction.atomic():
        _bulk(connection, Topic._meta.db_table, t_cols, topics)
        _bulk(connection, Message._meta.db_table, m_cols, messages)
        for name, count in numbers.items():
            Group.objects.filter(name=name).update(last_message_number=count)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for table in (Topic._meta.db_table, Message._meta.db_table):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT MAX(id) FROM {table}))")
                cur.execute(f"ANALYZE {table}")
    biggest = max(range(n_groups), key=lambda i: (i % 3 != 2, per_group[i]))
    return {"biggest": f"g{biggest:04d}", "biggest_count": per_group[biggest],
            "topics": len(topics)}


def _bulk(connection, table: str, cols: tuple, rows: list) -> None:
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            raw = cur.cursor  # psycopg 3: COPY is the fast path
            with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(cols))
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({marks})"
        for i in range(0, len(rows), 20000):
            cur.executemany(sql, [tuple(_sqlite(v) for v in r) for r in rows[i:i + 20000]])


def _sqlite(value):
    from django.db import connection

    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _timed(func, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_one(vendor: str, n_messages: int, n_groups: int, repeat: int) -> None:
    import django
    from django.conf import settings

    if "search" not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "search"]
    settings.ALLOWED_HOSTS = ["*"]
    django.setup()
    from django.contrib.auth.models import AnonymousUser
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    import search
    from groups.models import Group, Membership, Message, Topic, User

    call_command("migrate", verbosity=0)
    label = f"{vendor} ({connection.vendor})"
    t = time.perf_counter()
    info = generate(n_messages, n_groups)
    gen_s = time.perf_counter() - t
    print(f"[{label}] generated {n_messages:,} messages, {info['topics']:,} topics in "
          f"{n_groups:,} groups: {gen_s:.1f}s ({n_messages / gen_s:,.0f} msg/s)", flush=True)

    t = time.perf_counter()
    call_command("reindex", "--no-progress", stdout=open(os.devnull, "w"))
    idx_s = time.perf_counter() - t
    print(f"[{label}] indexing ({search.get_backend().name}): {idx_s:.1f}s = "
          f"{n_messages / idx_s:,.0f} msg/s; generation/indexing ratio "
          f"{gen_s / idx_s:.2f}", flush=True)

    member = User.objects.create_user("benchmember", "benchmember@example.org")
    private = list(Group.objects.filter(privacy=Group.Privacy.PRIVATE_ARCHIVE)
                   .values_list("pk", flat=True)[:5])
    Membership.objects.bulk_create([Membership(group_id=g, user=member,
                                               email="benchmember@example.org")
                                    for g in private])
    # Warm caches once, then measure.
    for q, g in QUERIES:
        search.query(None, q, groups=[g] if g else None)
    for who, user in (("anonymous", AnonymousUser()), ("member", member)):
        times, totals = [], []
        for q, g in QUERIES:
            ms = _timed(lambda q=q, g=g, u=user, out=totals: out.append(
                search.query(u, q, groups=[g] if g else None).total), repeat)
            times += ms
        print(f"[{label}] search as {who}: p50 {_pct(times, 50):.1f} ms, "
              f"p95 {_pct(times, 95):.1f} ms, max {max(times):.1f} ms over {len(times)} "
              f"queries (median hits {statistics.median(totals):,.0f}); "
              f"target p95 < 100 ms", flush=True)
    readable = [g for g in Group.objects.filter(privacy=Group.Privacy.PUBLIC)
                .values_list("pk", flat=True)]
    like_times = []
    for word in ("zephyr", "quarterly", "kernel"):
        like_times += _timed(lambda w=word: (
            Message.objects.filter(group_id__in=readable, deleted=False,
                                   body_text__icontains=w).count(),
            list(Message.objects.filter(group_id__in=readable, deleted=False,
                                        body_text__icontains=w).order_by("-date")[:20])), 1)
    fts_times = []
    for word in ("zephyr", "quarterly", "kernel"):
        fts_times += _timed(lambda w=word: search.query(None, w), 1)
    print(f"[{label}] reference LIKE scan: median {statistics.median(like_times):.1f} ms vs "
          f"full-text {statistics.median(fts_times):.1f} ms for the same words: "
          f"{statistics.median(like_times) / max(statistics.median(fts_times), 0.01):.0f}x "
          f"faster", flush=True)

    client = Client()
    big = info["biggest"]
    big_topic = (Topic.objects.filter(group__name=big).order_by("-message_count", "-pk")
                 .values_list("pk", flat=True).first())
    tiny_topic = Topic.objects.filter(group__name="tiny").values_list("pk", flat=True).first()
    pages = {
        "topic list": (reverse("topics", args=[big]), reverse("topics", args=["tiny"])),
        "topic page": (reverse("topic", args=[big, big_topic]),
                       reverse("topic", args=["tiny", tiny_topic])),
    }
    for name, (url, ref_url) in pages.items():
        status = client.get(url).status_code
        ref_status = client.get(ref_url).status_code
        ms = _timed(lambda u=url: client.get(u), repeat * 3)
        ref = _timed(lambda u=ref_url: client.get(u), repeat * 3)
        print(f"[{label}] {name} of {big} ({info['biggest_count']:,} messages, HTTP {status}): "
              f"p50 {_pct(ms, 50):.1f} ms, p95 {_pct(ms, 95):.1f} ms; a 10-message group "
              f"(HTTP {ref_status}): p50 {_pct(ref, 50):.1f} ms; ratio "
              f"{_pct(ms, 50) / max(_pct(ref, 50), 0.01):.2f}; target < 50 ms", flush=True)


def _pg_reachable(url: str) -> str:
    try:
        import psycopg

        base = url.rsplit("/", 1)[0]
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return ""
    except Exception as exc:
        return str(exc)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="100,000 messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = min(args.messages, 100_000)
    if args.messages < 1000 or args.groups < 1:
        parser.error("--messages must be at least 1000 and --groups at least 1")
    if args.one:
        run_one(args.one, args.messages, args.groups, args.repeat)
        return 0
    failed = 0
    for vendor in [b.strip() for b in args.backends.split(",") if b.strip()]:
        with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
            env = dict(os.environ, DATA_DIR=tmp, DJANGO_SETTINGS_MODULE="groups.settings",
                       PYTHONPATH=str(ROOT))
            env.pop("ELASTICSEARCH_URL", None)
            if vendor == "sqlite":
                env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
            elif vendor == "postgres":
                problem = _pg_reachable(PG_URL)
                if problem:
                    print(f"[postgres] skipped: {PG_URL} unreachable ({problem.strip()})")
                    continue
                env["DATABASE_URL"] = PG_URL
            else:
                parser.error(f"unknown backend {vendor!r} (sqlite, postgres)")
            code = subprocess.call([sys.executable, __file__, "--one", vendor,
                                    "--messages", str(args.messages), "--groups",
                                    str(args.groups), "--repeat", str(args.repeat)], env=env,
                                   cwd=ROOT)
            failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
