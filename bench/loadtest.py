"""`make loadtest`: the whole platform under load, on loopback, bounded in time.

50 MTA-like SMTP senders post to 20 groups of 1,000 members for 60 seconds
while a reader fetches web pages (group list, topic list, topic page, search);
then we wait, at most --drain seconds, for Karl to deliver every copy into
postfix's smtp-sink (bench/dumpsink.py), and print: posts offered and accepted
per second, deliveries per second, p50/p99 time from the SMTP 250 to the last
delivery of that post, web p50/p95 by page kind, and the checks: archived =
accepted, and every accepted post delivered exactly once to each of its
group's members (duplicates and strays counted apart). Exit status 1 when a
check fails.

Fan-out is the ceiling: every copy is personalised and DKIM-signed by Karl
(1-2 ms of CPU each) after messageserver has built the 1,000-recipient job
(about 0.3 s of CPU), some 2 CPU-seconds per post in all, so two cores keep up
with well under one post per second. The senders are therefore paced (--rate
posts/s in all, shared by all senders; the default 0.5 is sustainable on an
idle 2-core machine, and a higher rate measures delivery capacity through the
backlog); --unpaced measures the most posts smtpd accepts per second instead,
and then does not wait for delivery unless --drain is given.

    python bench/loadtest.py [--senders 50] [--groups 20] [--members 1000]
        [--seconds 60] [--rate 0.5 | --unpaced] [--drain 300] [--web-rate 5]

The platform runs on the embedded defaults (SQLite) unless DATABASE_URL points
at PostgreSQL, as for the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_karl import cpu_seconds  # noqa: E402
from bench.dumpsink import DumpSink  # noqa: E402
from bench.loadclients import Pacer, Posting, WebReading, run_reader, run_sender  # noqa: E402
from bench.timing import percentile  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.e2e.platform import Platform  # noqa: E402
from tests.reliability.conftest import alive, error_groups, query  # noqa: E402

DOMAIN = "groups.localhost"
SETTLE = 2.0  # seconds to keep counting after the last expected copy: late duplicates


def cpu_by_service(platform: Platform, sink: DumpSink) -> dict[str, float]:
    """CPU seconds used so far by each service (its whole process group), smtp-sink and us.

    Each service runs in a session of its own (Platform starts it so), which
    takes in Karl's delivery workers and any other children.
    """
    groups: dict[int, str] = {proc.pid: name for name, proc in platform.procs.items()}
    used = dict.fromkeys(groups.values(), 0.0)
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            pgrp = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        if pgrp in groups:
            used[groups[pgrp]] += cpu_seconds(int(entry.name))
    if sink.proc:
        used["smtp-sink"] = cpu_seconds(sink.proc.pid)
    used["load test (senders, reader, sweeper)"] = cpu_seconds(os.getpid())
    return used


def machine_busy() -> float:
    """CPU seconds all cores have spent not idle since boot (/proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=50, help="concurrent SMTP senders")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=1000, help="members per group")
    parser.add_argument("--seconds", type=float, default=60, help="how long to post")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, default=0.5,
                      help="posts per second offered by all senders together (default 0.5)")
    pace.add_argument("--unpaced", action="store_true",
                      help="every sender posts back to back: the most smtpd accepts")
    parser.add_argument("--drain", type=float, default=None,
                        help="max seconds to wait for delivery after posting (default 300; "
                             "0 with --unpaced)")
    parser.add_argument("--web-rate", type=float, default=5.0,
                        help="web pages per second fetched while posting (0: back to back)")
    parser.add_argument("--give-up", type=float, default=60.0,
                        help="seconds after posting ends that a deferred post is still retried")
    args = parser.parse_args(argv)
    if args.senders < 1 or args.groups < 1 or args.seconds <= 0 or args.rate <= 0:
        parser.error("--senders, --groups, --seconds and --rate must be positive")
    if args.members < args.senders:
        parser.error("--members must be at least --senders: every sender is a member")
    if args.senders > 240:
        parser.error("--senders is at most 240 (one loopback address each, 127.0.0.10 up)")
    if args.drain is None:
        args.drain = 0.0 if args.unpaced else 300.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="groups-load-"))
    platform = Platform(root)
    sink = DumpSink(free_port())
    code = 1
    try:
        platform.prepare()
        code = run(platform, sink, args)
        return code
    finally:
        sink.stop()
        platform.stop()  # never leave the platform's processes behind, whatever happened
        if code == 0:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"the platform's logs are kept in {root}", file=sys.stderr)


def set_up(platform: Platform, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The groups and their members (the senders first), created as an admin would."""
    senders = [f"sender{i}@load.example" for i in range(args.senders)]
    members = senders + [f"member{i}@load.example" for i in range(args.members - args.senders)]
    members_file = platform.root / "members.txt"
    members_file.write_text("\n".join(members) + "\n")
    groups = [f"load{g}" for g in range(args.groups)]
    started = time.monotonic()
    for name in groups:
        platform.manage("creategroup", name, "--owner", senders[0])
        platform.manage("addmembers", name, "--file", str(members_file))
    print(f"set up {len(groups)} groups of {len(members)} members in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return groups, members


def run(platform: Platform, sink: DumpSink, args: argparse.Namespace) -> int:
    """Set up, post while reading pages, drain, then print the figures and the checks."""
    groups, members = set_up(platform, args)
    sink.start()
    platform.env["KARL_RELAYS"] = f"smtp://127.0.0.1:{sink.port}"  # not the in-process sink
    platform.start()
    load_before = os.getloadavg()
    cpu_before, busy_before = cpu_by_service(platform, sink), machine_busy()
    database = "PostgreSQL" if platform.pg_db else "SQLite"
    pace = "unpaced" if args.unpaced else f"{args.rate:g} posts/s"
    print(f"platform up ({database}); {args.senders} senders posting for {args.seconds:g} s "
          f"({pace}), web reader at {args.web_rate:g} pages/s", flush=True)

    tag = uuid.uuid4().hex[:8]
    posting, reading = Posting(), WebReading()
    t0 = time.monotonic()
    wall0 = time.time()
    stop = t0 + args.seconds
    pacer = Pacer(t0, stop, None if args.unpaced else args.rate)
    threads = [threading.Thread(target=run_sender, args=(
        i, address, groups, platform.ports["smtpd"], DOMAIN, pacer, posting,
        stop + args.give_up, tag)) for i, address in enumerate(members[:args.senders])]
    threads.append(threading.Thread(target=run_reader, args=(
        platform.url("web"), groups, stop, args.web_rate, reading, tag)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    post_seconds = max(time.monotonic() - t0, args.seconds)
    accepted = dict(posting.accepted_at)
    expected = len(accepted) * len(members)
    print(f"posting done in {post_seconds:.1f} s: {len(posting.offered)} offered, "
          f"{len(accepted)} accepted; waiting up to {args.drain:g} s for {expected:,} "
          f"deliveries", flush=True)

    delivered = drain(sink, accepted, len(members), args.drain)
    cpu_after, busy_after = cpu_by_service(platform, sink), machine_busy()
    elapsed = time.monotonic() - t0
    sink.stop()  # the last sweep: every copy smtp-sink took is counted
    code = report(platform, sink, args, posting, reading, members, wall0, post_seconds,
                  load_before, delivered)
    used = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    others = busy_after - busy_before - sum(used.values())
    print(f"\nCPU seconds from the first post to the end of the drain ({elapsed:.0f} s wall "
          f"x {os.cpu_count()} cores = {elapsed * (os.cpu_count() or 1):.0f}): "
          + ", ".join(f"{name} {sec:.0f}" for name, sec in
                      sorted(used.items(), key=lambda kv: -kv[1]))
          + f"; everything else on the machine {max(others, 0.0):.0f}")
    return code


def drain(sink: DumpSink, accepted: dict[str, float], members: int, limit: float) -> bool:
    """Wait until every accepted post reached all its members (True) or ``limit`` passed."""
    deadline = time.monotonic() + limit
    want = len(accepted) * members
    next_note = time.monotonic() + 10
    while True:
        with sink.lock:
            have = sum(min(len(sink.posts[m].recipients), members)
                       for m in accepted if m in sink.posts)
        if have >= want:
            time.sleep(SETTLE)
            return True
        if time.monotonic() >= deadline:
            return False
        if time.monotonic() >= next_note:
            print(f"  delivered {have:,} of {want:,}", flush=True)
            next_note += 10
        time.sleep(0.5)


@dataclass
class Tally:
    """The sink's copies judged against the 250s: each accepted post, each member, once."""

    copies: int = 0  # copies of accepted posts, duplicates and strays included
    missing: int = 0  # (post, member) pairs never delivered
    strays: int = 0  # copies to addresses that are not members
    duplicates: int = 0
    incomplete: int = 0  # accepted posts not yet delivered to every member
    lags: list[float] = field(default_factory=list)  # 250 -> last copy, complete posts
    first: float = float("inf")  # time.time() of the first and last copy
    last: float = 0.0
    unacknowledged: int = 0  # copies of posts offered whose 250 we never saw
    other_mail: int = 0  # copies of anything else (notices, say)


def tally(sink: DumpSink, posting: Posting, members: set[str]) -> Tally:
    t = Tally()
    for mid, at in posting.accepted_at.items():
        got = sink.posts.get(mid)
        if got is None:
            t.missing += len(members)
            t.incomplete += 1
            continue
        lacking = len(members - got.recipients)
        t.copies += got.copies
        t.duplicates += got.duplicates
        t.strays += len(got.recipients - members)
        t.missing += lacking
        t.first, t.last = min(t.first, got.first_at), max(t.last, got.last_at)
        if lacking:
            t.incomplete += 1
        else:
            t.lags.append(got.last_at - at)
    for mid, got in sink.posts.items():
        if mid not in posting.offered:
            t.other_mail += got.copies
        elif mid not in posting.accepted_at:
            t.unacknowledged += got.copies
    return t


def report(platform: Platform, sink: DumpSink, args: argparse.Namespace, posting: Posting,
           reading: WebReading, members: list[str], wall0: float, post_seconds: float,
           load_before: tuple[float, float, float], delivered: bool) -> int:
    """The table of figures and checks; 0 when every check holds."""
    accepted = posting.accepted_at
    member_set = set(members)
    t = tally(sink, posting, member_set)
    copies, missing, strays, dupes, incomplete = (t.copies, t.missing, t.strays, t.duplicates,
                                                  t.incomplete)
    lags, first, last = t.lags, t.first, t.last
    rows = query(platform, "select message_id from groups_message")
    archived = [m.strip().strip("<>") for (m,) in rows]
    archived_set = set(archived)
    died = alive(platform)
    try:
        errors = len(error_groups(platform))
    except Exception as exc:  # errord itself down: say so, it is a finding
        errors = f"errord unreachable: {exc}"

    checks = {
        "archived = accepted": (
            archived_set == set(accepted) and len(archived) == len(archived_set),
            f"{len(archived)} archived, {len(accepted)} accepted"
            + (f"; {len(set(accepted) - archived_set)} accepted but not archived, "
               f"{len(archived_set - set(accepted))} archived without a 250 seen, "
               f"{len(archived) - len(archived_set)} archived twice"
               if archived_set != set(accepted) or len(archived) != len(archived_set) else "")),
        "no post refused (5xx or never accepted)": (
            not posting.refused, f"{len(posting.refused)}"
            + (": " + "; ".join(sorted(set(posting.refused))[:3]) if posting.refused else "")),
        "web pages all 200": (
            not reading.failures, f"{len(reading.failures)} not 200"
            + (": " + ", ".join(sorted(set(reading.failures))[:4]) if reading.failures else "")),
        "no process died": (not died, ", ".join(died) or "all alive"),
    }
    want = len(accepted) * len(member_set)
    if args.drain > 0:
        checks["deliveries = accepted x members"] = (
            missing == 0 and strays == 0,
            f"{copies - dupes - strays:,} = {len(accepted)} x {len(member_set)} "
            f"(= {want:,}); {missing:,} missing in {incomplete} posts, {strays} to non-members")
        checks["no duplicate copies"] = (dupes == 0, f"{dupes} duplicates")

    delivery_span = last - first if last > first else float("nan")
    smtp_ms = [s * 1000 for s in posting.smtp_seconds]
    print("\n| measure | value |\n| --- | --- |")
    print(f"| load | {args.senders} senders, {args.groups} groups x {len(member_set)} members, "
          f"{args.seconds:g} s, {'unpaced' if args.unpaced else f'{args.rate:g} posts/s'}, "
          f"{'PostgreSQL' if platform.pg_db else 'SQLite'} |")
    print(f"| posts offered per second | {len(posting.offered) / args.seconds:.2f} "
          f"({len(posting.offered)} in {args.seconds:g} s) |")
    accept_span = max(args.seconds, max(accepted.values(), default=wall0) - wall0)
    print(f"| posts accepted per second | {len(accepted) / accept_span:.2f} "
          f"({len(accepted)} in {accept_span:.1f} s, to the last 250) |")
    print(f"| SMTP session to 250, p50 / p99 | {percentile(smtp_ms, 50):.0f} / "
          f"{percentile(smtp_ms, 99):.0f} ms |")
    print(f"| SMTP deferrals (4xx or dropped, retried) | {sum(posting.deferrals.values())}"
          f"{' ' + str(dict(posting.deferrals)) if posting.deferrals else ''} |")
    print(f"| deliveries per second | {copies / delivery_span:.0f} ({copies:,} copies over "
          f"{delivery_span:.1f} s, first to last) |")
    after = f"{last - (wall0 + post_seconds):.1f} s" if last else "no delivery"
    print(f"| last delivery after the last sender finished | {after} |")
    print(f"| SMTP 250 -> last delivery of the post, p50 / p99 | {percentile(lags, 50):.2f} / "
          f"{percentile(lags, 99):.2f} s (max {max(lags, default=float('nan')):.2f} s; "
          f"{len(lags)} complete posts) |")
    all_web = [s for kind in reading.seconds.values() for s in kind]
    for kind, seconds in [*sorted(reading.seconds.items()), ("all pages", all_web)]:
        print(f"| web {kind}, p50 / p95 ({len(seconds)} requests) | "
              f"{percentile(seconds, 50) * 1000:.0f} / {percentile(seconds, 95) * 1000:.0f} ms |")
    print(f"| copies of posts without a 250 seen / other mail | {t.unacknowledged} / "
          f"{t.other_mail} |")
    print(f"| errors reported to errord | {errors} |")
    print(f"| load average before / after (1 min) | {load_before[0]:.2f} / "
          f"{os.getloadavg()[0]:.2f} |")
    if not delivered and args.drain > 0:
        print(f"| drain | NOT finished within {args.drain:g} s |")
    elif args.drain == 0:
        print("| drain | not awaited (--drain 0): deliveries not checked |")
    for name, (ok, detail) in checks.items():
        print(f"| check: {name} | {'OK' if ok else 'FAILED'}: {detail} |")
    return 0 if all(ok for ok, _ in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
