"""One post to a large group, end to end, against the machine's signing ceiling: where the time goes.

Measured back to back in one run, on one machine:
1. the signing ceiling: every core doing nothing but RSA-2048 signatures
   through OpenSSL (every copy needs one, so no sender can beat it);
2. Karl alone: one job of --members recipients through Karl's HTTP API into
   postfix's smtp-sink (bench/bench_karl.py's measurement);
3. end to end: the real platform (smtpd, messageserver, Karl with its workers)
   on a fresh DATA_DIR, one post by SMTP to a group of --members members,
   from smtpd's 250 to the last copy accepted by smtp-sink, with the stages
   in between: archived (the message row), the fan-out row and its recipients'
   snapshot written in the same transaction, smtpd's 250, then each job the
   continuation built after it (its outbox row) and handed to Karl (spooled),
   first copy signed, first and last copy sent (GET /v1/jobs/ID's
   ``timeline``, karl/timeline.py);
4. the signing ceiling again (the machine is shared). The ceiling is measured
   before Karl alone, between the two runs and after end to end; each rate is
   taken against the mean of the two ceilings around it, and all are printed.
Because the rates move with whatever else the machine runs, it also prints the
steadier figure: CPU per delivered copy by process, and the signature's share
of it (the CPU a signature took in the ceiling runs, from the processes' own
CPU time, over the CPU a copy took everywhere, the sink included): the rate a
quiet machine would reach, as a share of its ceiling. Last, the bound: the
share a sender costing nothing but its signatures would reach, since the sink
takes its own CPU per copy on the same cores (docs/capacity.md, "Why 90%").

Usage: python bench/bench_fanout.py [--members 10000] [--quick]
The targets of issue #20: end to end >= 80% of the ceiling, first copy out
within 1 s of the 250, Karl alone >= 90%.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_karl import (  # noqa: E402
    TOKEN,
    cpu_seconds,
    free_port,
    karl_rate,
    make_post,
    process_tree,
    sent_count,
    signing_ceiling_and_cost,
    start_sink,
)
from bench.bench_post import (  # noqa: E402
    group_post,
    make_group,
    platform_env,
    start_platform,
    stop_platform,
)
from karl.dkimkeys import ensure_key  # noqa: E402


def _epoch(value: str) -> float:
    """A datetime column as SQLite holds it (UTC, no zone) to seconds since the epoch."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def wait_sent(karl_port: int, total: float, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while sent_count(karl_port) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sent_count(karl_port):.0f} of {total:.0f} copies sent")
        time.sleep(0.2)  # /metrics costs Karl CPU; the stages come from the timelines


def stages(env: dict[str, str], group: str, number: int) -> list[tuple[str, float]]:
    """(stage, epoch seconds) of one post, from the database and Karl's job timelines.

    The archive transaction writes the message row and the post's one "fanout"
    outbox row (with its recipients' snapshot) and commits; smtpd's 250 follows.
    The continuation (messageserver.fanoutcontinuation) then builds each job (its
    outbox row's creation) and hands it to Karl (its ``spooled_ms``), a slice at a
    time: each job's two stages are shown, with its number of recipients.
    """
    with sqlite3.connect(Path(env["DATA_DIR"]) / "groups.sqlite3") as conn:
        archived = conn.execute(
            "SELECT m.created_at FROM groups_message m JOIN groups_group g ON g.id = m.group_id "
            "WHERE g.name = ? AND m.number = ?", (group, number)).fetchone()[0]
        like = (f"{group} #{number}%",)
        fanout_row = conn.execute(
            "SELECT created_at FROM groups_outboxitem WHERE kind = 'fanout' AND "
            "description LIKE ? ORDER BY id", like).fetchone()
        jobs = conn.execute(
            "SELECT created_at, karl_job_id, payload FROM groups_outboxitem WHERE kind = 'job' "
            "AND description LIKE ? ORDER BY id", like).fetchall()
    out = [("archived (message row)", _epoch(archived))]
    if fanout_row is not None:  # the code before the continuation built every job here
        out.append(("fan-out row + recipients' snapshot written (then commit)",
                    _epoch(fanout_row[0])))
    timelines = []
    with httpx.Client(base_url=f"http://127.0.0.1:{env['KARL_PORT']}",
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as karl:
        for _, job_id, _ in jobs:
            timelines.append(karl.get(f"/v1/jobs/{job_id}", params={"summary": "1"})
                             .json()["timeline"])
    for n, ((created, _, payload), timeline) in enumerate(zip(jobs, timelines, strict=True), 1):
        size = len(json.loads(payload)["recipients"])
        out.append((f"job {n} of {len(jobs)} built ({size:,} recipients)", _epoch(created)))
        out.append((f"job {n} of {len(jobs)} handed to Karl (spooled)",
                    timeline["spooled_ms"] / 1000))
    for label, key, pick in (("first copy signed", "first_signed_ms", min),
                             ("first copy sent (relay's 250)", "first_sent_ms", min),
                             ("last copy sent", "last_sent_ms", max)):
        out.append((label, pick(t[key] for t in timelines if key in t) / 1000))
    return out


def end_to_end(raw: bytes, members: int, sink: subprocess.Popen, sink_port: int) -> dict:
    """One post to a group of ``members`` through the real platform; its stages and CPU."""
    data = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    env = platform_env(data, sink_port)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                       env=env, check=True)
        make_group(env, "warmup", 50)
        make_group(env, "bench", members)
        procs = start_platform(env)
        karl_port = int(env["KARL_PORT"])
        try:
            with smtplib.SMTP("127.0.0.1", int(env["SMTPD_PORT"]), timeout=300) as client:
                # warm up every process (imports, Karl's workers, connections to the sink)
                client.sendmail("owner@example.org", ["warmup@groups.localhost"],
                                group_post(raw, "warmup", 0))
                wait_sent(karl_port, 50)
                pids = {procs["smtpd"].pid: "smtpd", procs["messageserver"].pid: "messageserver",
                        sink.pid: "smtp-sink"}
                pids |= {pid: name for pid, name in process_tree(procs["karl"].pid).items()}
                before = {pid: cpu_seconds(pid) for pid in pids}
                data_sent = time.time()
                client.sendmail("owner@example.org", ["bench@groups.localhost"],
                                group_post(raw, "bench", 0))
                accepted = time.time()
            wait_sent(karl_port, 50 + members)
            after = {pid: cpu_seconds(pid) for pid in pids}
            timeline = [("post sent (DATA)", data_sent), ("smtpd's 250", accepted),
                        *stages(env, "bench", 1)]
        finally:
            stop_platform(procs)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    cpu: dict[str, float] = {}
    for pid, name in pids.items():
        cpu[name] = cpu.get(name, 0.0) + (after[pid] - before[pid]) / members * 1000
    return {"timeline": sorted(timeline, key=lambda s: s[1]), "accepted": accepted, "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="2,000 members, for a smoke run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="Karl's delivery processes in the Karl-alone run")
    args = parser.parse_args()
    members = 2000 if args.quick else args.members
    cores = os.cpu_count() or 1
    raw = make_post()
    sink_port = free_port()
    sink = start_sink(sink_port)
    key_dir = Path(tempfile.mkdtemp(prefix="bench-key-"))
    try:
        key_pem = ensure_key(key_dir / "k.pem").read_bytes()
        ceiling1, cost1 = signing_ceiling_and_cost(key_pem, cores)
        print(f"signing ceiling (before): {cores} cores doing nothing but RSA-2048 signatures "
              f"make {ceiling1:,.0f}/s", flush=True)
        karl, karl_cpu = karl_rate(raw, members, sink, sink_port, args.workers)
        print(f"karl alone: {karl:,.0f} deliveries/s ({members:,} recipients, "
              f"{args.workers} workers)", flush=True)
        ceiling2, cost2 = signing_ceiling_and_cost(key_pem, cores)
        print(f"signing ceiling (between): {ceiling2:,.0f}/s", flush=True)
        e2e = end_to_end(raw, members, sink, sink_port)
        ceiling3, cost3 = signing_ceiling_and_cost(key_pem, cores)
        print(f"signing ceiling (after): {ceiling3:,.0f}/s", flush=True)
    finally:
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(key_dir, ignore_errors=True)
    karl_ceiling, e2e_ceiling = (ceiling1 + ceiling2) / 2, (ceiling2 + ceiling3) / 2
    signature_ms = min(cost1, cost2, cost3)  # CPU a signature takes (process time)
    timeline = e2e["timeline"]
    at = dict(timeline)
    accepted = e2e["accepted"]
    last = at["last copy sent"]
    first = at["first copy sent (relay's 250)"]
    rate = members / (last - accepted)
    print(f"\nper-stage timeline of one post to {members:,} members (ms after smtpd's 250):")
    previous = timeline[0][1]
    for label, when in timeline:
        print(f"  {(when - accepted) * 1000:+9.0f}  (+{(when - previous) * 1000:6.0f})  {label}")
        previous = when
    for name, cpu in (("end to end", e2e["cpu"]), ("karl alone", karl_cpu)):
        total = sum(cpu.values())
        print(f"CPU per delivery, {name}: " + ", ".join(
            f"{proc} {ms:.3f} ms" for proc, ms in sorted(cpu.items()) if ms >= 0.0005) +
            f"; total {total:.3f} ms, of which one signature {signature_ms:.3f} ms "
            f"({signature_ms / total:.0%})")
    print(f"\nsigning ceiling: {ceiling1:,.0f}/s before, {ceiling2:,.0f}/s between, "
          f"{ceiling3:,.0f}/s after; a signature takes {signature_ms:.3f} ms of CPU "
          f"({cores * 1000 / signature_ms:,.0f}/s on {cores} idle cores)")
    print(f"karl alone:  {karl:,.0f} deliveries/s = {karl / karl_ceiling:.0%} of the ceiling "
          f"around it ({karl_ceiling:,.0f}/s; target >= 90%)")
    print(f"end to end:  {rate:,.0f} deliveries/s = {rate / e2e_ceiling:.0%} of the ceiling "
          f"around it ({e2e_ceiling:,.0f}/s), smtpd's 250 to the last copy sent "
          f"(target >= 80%)")
    print(f"first copy:  sent {(first - accepted) * 1000:,.0f} ms after smtpd's 250 "
          f"(target <= 1,000 ms)")
    sink_ms = karl_cpu.get("smtp-sink", 0.0)
    if sink_ms:  # the sink runs on the same cores: what it takes, no sender can have
        print(f"the bound:   a sender whose only cost is the signature, delivering into this "
              f"sink on the same {cores} cores, would reach {signature_ms:.3f} / "
              f"({signature_ms:.3f} + {sink_ms:.3f} sink) = "
              f"{signature_ms / (signature_ms + sink_ms):.0%} of the ceiling")
    return 0


if __name__ == "__main__":
    sys.exit(main())
