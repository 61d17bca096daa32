"""Archive benchmark: a million messages in a thousand groups, searched and shown.

    python bench/bench_archive.py                 # 1,000,000 messages, SQLite and PostgreSQL
    python bench/bench_archive.py --quick         # 100,000 messages (what `make bench` runs)
    python bench/bench_archive.py --messages 300000 --backends postgres --keep
    python bench/bench_archive.py --reuse         # measure again what --keep left
    python bench/bench_archive.py --reuse --search-only --backends sqlite  # shapes only

For each database (a fresh SQLite file in a temporary DATA_DIR; a fresh
PostgreSQL database ``groups_bench`` on BENCH_PG_URL's server, skipped with a
note when unreachable) it:

1. generates the archive in bulk (raw SQL in one transaction: executemany on
   SQLite, COPY on PostgreSQL), with progress — groups (a third of them
   members-only), topics of 1-12 messages plus one long topic in the largest
   group, bodies of 40-160 words from a Zipf-like vocabulary, one message in 53
   with an attachment, one topic in 97 tagged #announce (in the first 50
   groups), a rare word in one message in 100,000, 20,000 senders. The same
   seed gives both databases the same archive;
2. indexes it with the real code path (``manage.py reindex``) and prints msg/s;
3. times every shape of query the search page sends (``search_shapes``: words,
   a phrase, the commonest and a rare word, a prefix, an exclusion, an author
   by name, by address and by part of a name, author + word, a word with a
   small group, the largest group, a week, has attachment, #announce, the
   rare word with each selective filter and both words with the largest group,
   and filters alone) through ``search.query``, as an anonymous visitor (every
   public group) and as a member of five private groups, and prints p50/p95
   per shape, the CPU per search (this process and, on PostgreSQL, its server
   backend: steadier than wall time on a shared machine), p95 against the
   100 ms target, and the same search as a site without full-text indexes runs
   it (``naive``: LIKE over the message table), measured once in the same run
   (not with ``--search-only``, which also leaves out the pages);
4. renders every reading page with Django's test client — the directory, the
   largest group's home, its topic list (first and last page), its long topic
   (first and last page), a message, the search page (a word, an author) —
   and prints p50/p95 against the 50 ms target and against the same page of
   a ten-message group.

Targets: search p95 < 100 ms, page p95 < 50 ms. Every figure is printed
absolute and as a ratio, and the first line says which size ran.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.timing import percentile, timed  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/groups_bench")
FULL, QUICK = 1_000_000, 100_000
BATCH = 50_000  # messages written per bulk statement (bounds the generator's memory)
SEED = 7
SEARCH_TARGET, PAGE_TARGET = 100, 50  # p95, milliseconds
AUTHOR = "User4242"  # one sender of 20,000 (user4242@example.org): about one message in 20,000


T_COLS = ("id", "group_id", "subject", "normalized_subject", "created_at", "last_post_at",
          "message_count", "locked", "sticky", "first_message_id", "last_message_id")
M_COLS = ("id", "group_id", "topic_id", "number", "message_id", "in_reply_to", "references",
          "sender_email", "sender_name", "membership_id", "subject", "date", "created_at",
          "body_text", "body_html", "source", "markdown", "nonmember", "deleted")
A_COLS = ("id", "message_id", "filename", "content_type", "size", "path", "content_id", "sha256")
TH_COLS = ("topic_id", "hashtag_id")
# What makes a filter match little, the same at every size: one message in ATTACHED has a
# file (about 2%), one topic in TAGGED is tagged #HASHTAG (in each group that has one), and
# the RARE word is in one message in RARE_EVERY (ten at a million).
ATTACHED, TAGGED, RARE_EVERY = 53, 97, 100_000
HASHTAG, RARE = "announce", "kumquat"
TAG_GROUPS = 50  # the first groups own a #announce hashtag


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


class Text:
    """Zipf-distributed text, fast: bodies are random slices of one long sampled stream.

    Sampling each word separately costs a Python call per word (10^8 of them for
    a million bodies); slicing a pre-sampled stream keeps the word frequencies
    and costs one join per body.
    """

    def __init__(self, rng: random.Random, length: int = 1 << 21) -> None:
        vocab = _words()
        rng.shuffle(vocab)
        weights = [1.0 / (i + 1) ** 0.9 for i in range(len(vocab))]
        self.rng = rng
        self.stream = rng.choices(vocab, weights=weights, k=length)

    def words(self, low: int, high: int) -> str:
        n = self.rng.randint(low, high)
        start = self.rng.randrange(len(self.stream) - n)
        return " ".join(self.stream[start:start + n])


def plan_topics(rng: random.Random, n_messages: int, n_groups: int) -> list[tuple[str, int]]:
    """(group name, message count) per topic: a heavy-tailed spread, a tiny group, a long topic."""
    long_topic = max(100, n_messages // 1000)
    plan = [("tiny", 5), ("tiny", 5)]
    remaining = n_messages - 10 - long_topic
    while remaining > 0:
        size = min(remaining, rng.randint(1, 12))
        gi = min(int(rng.paretovariate(1.2)) - 1, n_groups - 1) if rng.random() < 0.3 \
            else rng.randrange(n_groups)
        plan.append((f"g{gi:04d}", size))
        remaining -= size
    # g0000 gets the most topics (the tail above) and is public: its long topic is the
    # largest topic page a reader can open.
    plan.insert(rng.randrange(2, len(plan)), ("g0000", long_topic))
    return plan


def generate(n_messages: int, n_groups: int, progress: Callable[[str], None]) -> dict:
    """Write groups, topics and messages in bulk; returns what the later steps need."""
    from django.db import connection, transaction

    from groups.models import Group, Hashtag

    rng = random.Random(SEED)
    text = Text(rng)
    groups = [Group(name=f"g{i:04d}", title=f"Group {i}",
                    privacy=Group.Privacy.PRIVATE_ARCHIVE if i % 3 == 2 else Group.Privacy.PUBLIC)
              for i in range(n_groups)]
    groups.append(Group(name="tiny", title="Ten messages"))
    plan = plan_topics(rng, n_messages, n_groups)
    started = time.perf_counter()
    numbers: dict[str, int] = {}
    with _bulk_load_mode(connection), transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:  # the per-row checks' triggers, for this load
                cur.execute("SET LOCAL session_replication_role = replica")
        Group.objects.bulk_create(groups, batch_size=1000)
        group_ids = dict(Group.objects.values_list("name", "pk"))
        Hashtag.objects.bulk_create([Hashtag(group_id=group_ids[f"g{i:04d}"], name=HASHTAG)
                                     for i in range(min(TAG_GROUPS, n_groups))])
        tags = dict(Hashtag.objects.values_list("group_id", "pk"))
        writer = _writer(connection)
        written = 0
        tables = ("groups_topic", "groups_message", "groups_attachment", "groups_topic_hashtags")
        with _indexes_built_after(connection, tables, progress):
            for topics, messages in _batches(plan, group_ids, numbers, text, rng):
                writer("groups_topic", T_COLS, topics)
                writer("groups_message", M_COLS, messages)
                writer("groups_attachment", A_COLS, [
                    (m[0], m[0], f"report-{m[0]}.pdf", "application/pdf", 20_000,
                     f"bench/{m[0]}.pdf", "", "") for m in messages if m[0] % ATTACHED == 0])
                writer("groups_topic_hashtags", TH_COLS, [
                    (t[0], tags[t[1]]) for t in topics if t[0] % TAGGED == 0 and t[1] in tags])
                written += len(messages)
                rate = written / (time.perf_counter() - started)
                progress(f"generated {written:,}/{n_messages:,} messages ({rate:,.0f} msg/s)")
        for name, count in numbers.items():
            Group.objects.filter(name=name).update(last_message_number=count)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for table in ("groups_topic", "groups_message", "groups_group",
                          "groups_attachment"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT MAX(id) FROM {table}))")
        _settle(connection, ("groups_topic", "groups_message", "groups_group",
                             "groups_attachment", "groups_topic_hashtags"))
    public = [int(name[1:]) for name in numbers if name.startswith("g")
              and int(name[1:]) % 3 != 2]
    biggest = max(public, key=lambda i: numbers[f"g{i:04d}"])
    return {"biggest": f"g{biggest:04d}", "biggest_count": numbers[f"g{biggest:04d}"],
            "topics": len(plan), "messages": n_messages}


def _batches(plan, group_ids: dict[str, int], numbers: dict[str, int], text: Text,
             rng: random.Random) -> Iterator[tuple[list, list]]:
    """Topic and message rows, about BATCH messages at a time, in plan order."""
    start, span = datetime(2021, 1, 1, tzinfo=UTC), 3 * 365 * 86400
    topics: list[tuple] = []
    messages: list[tuple] = []
    message_id = 0
    for topic_id, (gname, size) in enumerate(plan, start=1):
        gid = group_ids[gname]
        t0 = start + timedelta(seconds=rng.randrange(span))
        subject = text.words(3, 7).capitalize()
        first_id = message_id + 1
        step = timedelta(minutes=37)
        for k in range(size):
            message_id += 1
            number = numbers[gname] = numbers.get(gname, 0) + 1
            when = t0 + step * k
            sender = f"user{rng.randrange(20000)}"
            messages.append((message_id, gid, topic_id, number, f"<m{message_id}@bench.example>",
                             "", "", f"{sender}@example.org", sender.title(), None,
                             ("Re: " if k else "") + subject, when, when,
                             text.words(40, 160) + (f" {RARE}" if message_id % RARE_EVERY == 1
                                                    else ""),
                             "", "import", False, False, False))
        topics.append((topic_id, gid, subject, subject.lower(), t0, t0 + step * (size - 1), size,
                       False, False, first_id, message_id))
        if len(messages) >= BATCH:
            yield topics, messages
            topics, messages = [], []
    if messages:
        yield topics, messages


def _settle(connection, tables: tuple[str, ...]) -> None:
    """What autovacuum does after a bulk insert on a live server, done now.

    Statistics for the planner, and on PostgreSQL the visibility map that
    lets counts and key lists be read from an index alone.
    """
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            for table in tables:
                cur.execute(f"VACUUM ANALYZE {table}")
        else:
            cur.execute("ANALYZE")


@contextmanager
def _bulk_load_mode(connection) -> Iterator[None]:
    """No foreign-key checks (rows consistent by construction) and, on SQLite, a large cache.

    Topics and messages point at each other, so with checks on every insert
    would look the other table up by a column whose index is dropped for the
    load. SQLite's switch works only outside a transaction; PostgreSQL's
    (session_replication_role) is set inside the load's transaction.
    """
    disabled = connection.vendor == "sqlite" and connection.disable_constraint_checking()
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:  # the indexes' pages stay in memory while they grow
            cur.execute("PRAGMA cache_size = -500000")
    try:
        yield
    finally:
        if disabled:
            connection.enable_constraint_checking()


@contextmanager
def _indexes_built_after(connection, tables: tuple[str, ...],
                         progress: Callable[[str], None]) -> Iterator[None]:
    """Drop the tables' secondary indexes for the load and build them once at the end.

    One sorted build per index is several times faster than a million
    in-place inserts into each. Primary keys and unique constraints stay (the
    load still checks them).
    """
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                        "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                        [list(tables)])
        else:
            cur.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql "
                        f"IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%%' AND tbl_name IN "
                        f"({', '.join(['%s'] * len(tables))})", list(tables))
        indexes = cur.fetchall()
    with connection.cursor() as cur:
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    started = time.perf_counter()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, sql in indexes:
            cur.execute(sql)
    progress(f"built {len(indexes)} indexes in {time.perf_counter() - started:.1f}s")


def _writer(connection) -> Callable[[str, tuple, list], None]:
    """The fastest bulk write each database offers, inside the caller's transaction."""
    if connection.vendor == "postgresql":
        def copy(table: str, cols: tuple, rows: list) -> None:
            if not rows:
                return
            quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
            with connection.cursor() as cur, cur.cursor.copy(
                    f"COPY {table} ({quoted}) FROM STDIN") as out:
                for row in rows:
                    out.write_row(row)
        return copy

    adapt = connection.ops.adapt_datetimefield_value

    def insert(table: str, cols: tuple, rows: list) -> None:
        if not rows:
            return
        quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})"
        when = [i for i, value in enumerate(rows[0]) if isinstance(value, datetime)]

        def adapted(row: tuple) -> list:
            out = list(row)
            for i in when:
                out[i] = adapt(out[i])
            return out
        with connection.cursor() as cur:
            cur.executemany(sql, [adapted(r) for r in rows])
    return insert


def run_one(vendor: str, n_messages: int, n_groups: int, repeat: int, reuse: bool,
            search_only: bool = False) -> None:
    import django
    from django.conf import settings

    if "search" not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "search"]
    settings.ALLOWED_HOSTS = ["*"]
    django.setup()
    from django.core.management import call_command

    from groups.models import Message

    call_command("migrate", verbosity=0)
    label = f"[{vendor}]"

    def say(line: str) -> None:
        print(f"{label} {line}", flush=True)

    last = [0.0]

    def progress(line: str) -> None:  # counts at most every 10 s (and the last); the rest
        now = time.monotonic()
        final = line.split("/")[0].endswith(f"{n_messages:,}")
        if not line.startswith("generated ") or final or now - last[0] >= 10:
            last[0] = now
            say(line)

    info = _kept_archive(n_messages) if reuse else None
    if info is not None:
        say(f"reused the kept archive of {n_messages:,} messages ({info['topics']:,} topics): "
            "no generation or indexing figures")
        from django.db import connection

        _settle(connection, ("search_document",))  # after what migrate may have changed
    elif Message.objects.exists():
        raise SystemExit(f"{label} the kept archive is not {n_messages:,} indexed messages "
                         "(another size, or an interrupted run): run once without --reuse")
    else:
        info = build(say, progress, n_messages, n_groups)
    measure_search(say, info, repeat, reference=not search_only)
    if not search_only:
        measure_pages(say, info, repeat)


def _kept_archive(n_messages: int) -> dict | None:
    """What generate() would return, from an archive a --keep run left, if it is whole."""
    from groups.models import Group, Membership, Message, Topic, User
    from search.models import Document

    if Message.objects.count() != n_messages or Document.objects.count() != n_messages:
        return None
    User.objects.filter(username="benchmember").delete()  # measure_search makes it anew
    Membership.objects.filter(email="benchmember@example.org").delete()
    biggest = (Group.objects.filter(privacy=Group.Privacy.PUBLIC, name__startswith="g")
               .order_by("-last_message_number", "name")
               .values("name", "last_message_number")[0])
    return {"biggest": biggest["name"], "biggest_count": biggest["last_message_number"],
            "topics": Topic.objects.count(), "messages": n_messages}


def build(say: Callable[[str], None], progress: Callable[[str], None], n_messages: int,
          n_groups: int) -> dict:
    """Generate the archive, index it with the real command, and print both rates."""
    from django.core.management import call_command
    from django.db import connection

    import search

    t = time.perf_counter()
    info = generate(n_messages, n_groups, progress)
    gen_s = time.perf_counter() - t
    say(f"generated {n_messages:,} messages, {info['topics']:,} topics in {n_groups:,} groups: "
        f"{gen_s:.1f}s ({n_messages / gen_s:,.0f} msg/s)")

    say(f"indexing with manage.py reindex ({search.get_backend().name})...")
    t = time.perf_counter()
    quiet = [] if sys.stderr.isatty() else ["--no-progress"]  # its bar, on a terminal only
    call_command("reindex", *quiet, stdout=open(os.devnull, "w"))  # noqa: SIM115
    idx_s = time.perf_counter() - t
    say(f"indexing ({search.get_backend().name}): {idx_s:.1f}s = {n_messages / idx_s:,.0f} "
        f"msg/s; ratio to bulk generation {gen_s / idx_s:.2f}")
    _settle(connection, ("search_document",))
    return info


def _vocabulary() -> list[str]:
    """The words in frequency order, most common first: Text's shuffle, replayed."""
    vocab = _words()
    random.Random(SEED).shuffle(vocab)  # Text's first draw from the seeded generator
    return vocab


def search_shapes(small: str, big: str) -> list[tuple[str, dict]]:
    """Every shape of query the search page can send: (name, search.query keyword arguments).

    ``small`` is a public group with about one message in 2,000; ``big`` the largest.
    """
    common = _vocabulary()[0]
    week = {"date_from": date(2022, 6, 1), "date_to": date(2022, 6, 7)}
    return [
        ("word", {"q": "release"}),
        ("two words", {"q": "server migration"}),
        ("phrase", {"q": '"build failure"'}),
        (f"common word ({common})", {"q": common}),
        (f"rare word ({RARE})", {"q": RARE}),
        ("no such word", {"q": "xylophone"}),
        ("prefix", {"q": "deploy*"}),
        ("exclusion", {"q": "plugin -maven"}),
        ("author by name", {"author": AUTHOR}),
        ("author by address", {"author": f"{AUTHOR.lower()}@example.org"}),
        ("author by part of a name", {"author": AUTHOR[:-1].lower()}),
        ("author + word", {"q": common, "author": AUTHOR}),
        (f"word + small group ({small})", {"q": common, "groups": [small]}),
        (f"word + largest group ({big})", {"q": "release", "groups": [big]}),
        ("word + a week", {"q": common, **week}),
        ("word + has attachment", {"q": common, "has_attachment": True}),
        (f"word + #{HASHTAG}", {"q": common, "hashtag": HASHTAG}),
        # The rare word against the same selective filters, and the common word against an
        # unselective one: which side should drive differs for each.
        ("rare word + has attachment", {"q": RARE, "has_attachment": True}),
        (f"rare word + #{HASHTAG}", {"q": RARE, "hashtag": HASHTAG}),
        ("rare word + author", {"q": RARE, "author": AUTHOR}),
        (f"common word + largest group ({big})", {"q": common, "groups": [big]}),
        (f"rare word + largest group ({big})", {"q": RARE, "groups": [big]}),
        ("a week only", week),
        (f"#{HASHTAG} only", {"hashtag": HASHTAG}),
    ]


def naive(kwargs: dict, readable: list[int]):
    """The same search as a site without full-text indexes runs it: LIKE over the archive.

    The reference each shape is compared with, measured in the same run.
    """
    from django.db.models import Exists, OuterRef, Q

    from groups.models import Attachment, Message
    from search import querysyntax

    found = Message.objects.filter(group_id__in=readable, deleted=False)
    for term in querysyntax.parse(kwargs.get("q", "")):
        words = Q(body_text__icontains=" ".join(term.words)) | Q(
            subject__icontains=" ".join(term.words))
        found = found.exclude(words) if term.negated else found.filter(words)
    if kwargs.get("groups"):
        found = found.filter(group__name__in=kwargs["groups"])
    if kwargs.get("author"):
        found = found.filter(Q(sender_name__icontains=kwargs["author"])
                             | Q(sender_email__icontains=kwargs["author"]))
    if kwargs.get("hashtag"):
        found = found.filter(topic__hashtags__name__iexact=kwargs["hashtag"])
    if kwargs.get("has_attachment"):
        found = found.filter(Exists(Attachment.objects.filter(message=OuterRef("pk"))))
    if kwargs.get("date_from"):
        found = found.filter(date__date__gte=kwargs["date_from"],
                             date__date__lte=kwargs["date_to"])
    return found


def _search(user, kwargs: dict):
    import search

    return search.query(user, kwargs.get("q", ""),
                        **{k: v for k, v in kwargs.items() if k != "q"})


def _cpu_seconds() -> float:
    """CPU seconds spent so far by this process and, on PostgreSQL, its server backend.

    Wall-clock percentiles move with whatever else the machine runs; CPU per
    search does much less, so each shape prints both. The backend's CPU is read
    from /proc (the server runs on this machine in the benchmark; else only
    this process is counted and the line says so).
    """
    from django.db import connection

    own = time.process_time()
    if connection.vendor != "postgresql":
        return own
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return own
    return own + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_search(say: Callable[[str], None], info: dict, repeat: int,
                   reference: bool = True) -> None:
    """Each query shape as an anonymous visitor and as a member of five private groups.

    ``reference``: also time each shape's naive LIKE scan (seconds each at a million).
    """
    from django.contrib.auth.models import AnonymousUser
    from django.db.models import F
    from django.db.models.functions import Abs

    from groups.models import Group, Membership, User
    from search.backend import COUNT_CAP

    member = User.objects.create_user("benchmember", "benchmember@example.org")
    private = list(Group.objects.filter(privacy=Group.Privacy.PRIVATE_ARCHIVE)
                   .values_list("pk", flat=True)[:5])
    Membership.objects.bulk_create([Membership(group_id=g, user=member,
                                               email="benchmember@example.org")
                                    for g in private])
    total = info.get("messages") or sum(Group.objects.values_list("last_message_number",
                                                                  flat=True))
    small = (Group.objects.filter(privacy=Group.Privacy.PUBLIC, name__startswith="g")
             .order_by(Abs(F("last_message_number") - max(20, total // 2000)), "name")
             .values_list("name", flat=True)[0])
    readable = list(Group.objects.filter(privacy=Group.Privacy.PUBLIC)
                    .values_list("pk", flat=True))
    shapes = search_shapes(small, info["biggest"])
    users = (AnonymousUser(), member)
    for _, kwargs in shapes:  # warm the caches once, then measure
        _search(None, kwargs)
    worst = []
    for name, kwargs in shapes:
        ms, hits = [], []
        cpu = _cpu_seconds()
        for user in users:
            ms += timed(lambda u=user, k=kwargs, out=hits: out.append(_search(u, k).total),
                        repeat)
        cpu_ms = (_cpu_seconds() - cpu) * 1000 / len(ms)
        p50, p95 = percentile(ms, 50), percentile(ms, 95)
        worst.append(p95)
        shown = f"more than {COUNT_CAP:,}" if hits[0] > COUNT_CAP else f"{hits[0]:,}"
        line = (f"search {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, CPU {cpu_ms:.1f} ms "
                f"({shown} hits); p95/target {p95 / SEARCH_TARGET:.2f}")
        if reference:
            found = naive(kwargs, readable)
            ref = timed(lambda f=found: (f.count(), list(f.order_by("-date")[:20])), 1)[0]
            line += f"; naive LIKE scan {ref:.0f} ms = {ref / max(p50, 0.01):.0f}x the p50"
        say(line)
    say(f"search, every shape: worst p95 {max(worst):.1f} ms over {len(shapes)} shapes x "
        f"{len(users)} users x {repeat}; target p95 < {SEARCH_TARGET} ms "
        f"({sum(w >= SEARCH_TARGET for w in worst)} shapes over)")


def measure_pages(say: Callable[[str], None], info: dict, repeat: int) -> None:
    """Each reading page of the largest group, against the same page of a 10-message group."""
    from django.test import Client
    from django.urls import reverse

    from groups.models import Message, Topic
    from groups.web.pages import PER_PAGE
    from groups.web.views.archive import TOPIC_PER_PAGE

    client = Client()
    big = info["biggest"]
    long_topic = (Topic.objects.filter(group__name=big).order_by("-message_count", "-pk")
                  .values("pk", "message_count").first())
    tiny_topic = Topic.objects.filter(group__name="tiny").values_list("pk", flat=True).first()
    topics_url, tiny_topics = reverse("topics", args=[big]), reverse("topics", args=["tiny"])
    topic_url = reverse("topic", args=[big, long_topic["pk"]])
    tiny_url = reverse("topic", args=["tiny", tiny_topic])
    last_list = -(-Topic.objects.filter(group__name=big).count() // PER_PAGE)
    last_topic = -(-long_topic["message_count"] // TOPIC_PER_PAGE)
    middle = Message.objects.filter(topic_id=long_topic["pk"]).order_by("date", "number")[
        long_topic["message_count"] // 2].number
    search_url = reverse("search")
    pages = [
        ("directory", reverse("directory"), None),
        (f"group home of {big}", reverse("group_home", args=[big]),
         reverse("group_home", args=["tiny"])),
        (f"topic list of {big} ({info['biggest_count']:,} messages), page 1", topics_url,
         tiny_topics),
        (f"topic list of {big}, last page ({last_list:,})", f"{topics_url}?page={last_list}",
         tiny_topics),
        (f"topic page ({long_topic['message_count']:,} messages), page 1", topic_url, tiny_url),
        (f"topic page, last page ({last_topic})", f"{topic_url}?page={last_topic}", tiny_url),
        ("message page (in the long topic)", reverse("message", args=[big, middle]),
         reverse("message", args=["tiny", 1])),
        ("search page, a word", f"{search_url}?q=release",
         f"{search_url}?q=release&group=tiny"),
        ("search page, an author", f"{search_url}?author={AUTHOR}",
         f"{search_url}?author={AUTHOR}&group=tiny"),
    ]
    worst = []
    for name, url, ref_url in pages:
        status = client.get(url).status_code
        ms = timed(lambda u=url: client.get(u), repeat * 4)
        p50, p95 = percentile(ms, 50), percentile(ms, 95)
        worst.append(p95)
        line = (f"page {name} (HTTP {status}): p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
                f"p95/target {p95 / PAGE_TARGET:.2f}")
        if ref_url:
            ref_status = client.get(ref_url).status_code
            ref = timed(lambda u=ref_url: client.get(u), repeat * 4)
            line += (f"; same page of a 10-message group (HTTP {ref_status}): p50 "
                     f"{percentile(ref, 50):.1f} ms, ratio {p50 / max(percentile(ref, 50), 0.01):.2f}")
        say(line)
    say(f"pages: worst p95 {max(worst):.1f} ms over {len(pages)} pages; target p95 < "
        f"{PAGE_TARGET} ms ({sum(w >= PAGE_TARGET for w in worst)} pages over)")


def _pg_database(url: str, fresh: bool) -> str:
    """Create the bench database (dropped first when ``fresh``); the problem as text, if any."""
    try:
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  [name]).fetchone()
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{name}"')
            if fresh or not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return ""
    except Exception as exc:
        return str(exc)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=FULL)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} messages")
    parser.add_argument("--keep", action="store_true",
                        help="keep the SQLite file and the PostgreSQL database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="measure again on an archive kept by --keep (same size): "
                             "no generation or indexing figures then")
    parser.add_argument("--search-only", action="store_true",
                        help="only the search shapes, without their naive references or "
                             "the pages (a quick measure of a search change)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.messages = min(args.messages, QUICK)
    if args.messages < 1000 or args.groups < 1 or args.repeat < 1:
        parser.error("--messages must be at least 1000, --groups and --repeat at least 1")
    if args.one:
        run_one(args.one, args.messages, args.groups, args.repeat, args.reuse,
                args.search_only)
        return 0
    size = "full size" if args.messages >= FULL else "reduced size (--messages or --quick)"
    print(f"archive benchmark at {args.messages:,} messages in {args.groups:,} groups: {size}",
          flush=True)
    failed = 0
    for vendor in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if vendor not in ("sqlite", "postgres"):
            parser.error(f"unknown backend {vendor!r} (sqlite, postgres)")
        keep = args.keep or args.reuse
        if keep:  # a fixed place, so that --reuse finds it
            tmp = str(Path(tempfile.gettempdir()) / f"bench-archive-{vendor}-{args.messages}")
            os.makedirs(tmp, exist_ok=True)
        else:
            tmp = tempfile.mkdtemp(prefix="bench-archive-")
        env = dict(os.environ, DATA_DIR=tmp, DJANGO_SETTINGS_MODULE="groups.settings",
                   PYTHONPATH=str(ROOT))
        for name in ("ELASTICSEARCH_URL", "REDIS_URL"):  # the database's own search, inline
            env.pop(name, None)
        if vendor == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
            if not args.reuse:
                Path(tmp, "bench.sqlite3").unlink(missing_ok=True)
        else:
            problem = _pg_database(PG_URL, fresh=not args.reuse)
            if problem:
                print(f"[postgres] skipped: {PG_URL} unreachable ({problem.strip()})")
                continue
            env["DATABASE_URL"] = PG_URL
        start = time.monotonic()
        code = subprocess.call([sys.executable, __file__, "--one", vendor, "--messages",
                                str(args.messages), "--groups", str(args.groups), "--repeat",
                                str(args.repeat), *(["--reuse"] if args.reuse else []),
                                *(["--search-only"] if args.search_only else [])],
                               env=env, cwd=ROOT)
        print(f"[{vendor}] wall time {time.monotonic() - start:.0f}s (exit {code})", flush=True)
        failed += code != 0
        if keep:
            print(f"[{vendor}] kept: {env['DATABASE_URL']} (--reuse measures it again)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
