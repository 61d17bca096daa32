"""What accepting one post costs inside the archive transaction, against building its jobs.

The archive transaction writes the post's recipients' snapshot
(messageserver.fanoutqueue: one INSERT ... SELECT) and smtpd's 250 waits for
it; the Karl jobs are built after the commit (messageserver.fanoutcontinuation).
This measures both, back to back in one process on a fresh SQLite DATA_DIR
(or DATABASE_URL's database when given): the snapshot in a transaction, and,
as the reference of the same run, building every job of the same post the way
the transaction did before (fanout.recipients + fanout.build_job per slice,
without writing them; the members are read as rows, as the continuation now reads
them, so this reference is cheaper than the old transaction was).

Usage: python bench/bench_fanout_accept.py [--members 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(members: int) -> None:
    from bench.posts import accepted_post

    message = accepted_post("accept", members)
    from django.db import transaction

    from messageserver import fanout, fanoutqueue, fanoutslices

    cpu, wall = time.process_time(), time.perf_counter()
    with transaction.atomic():
        total = fanoutqueue.queue_fanout(message, [])
    new_cpu, new_wall = time.process_time() - cpu, time.perf_counter() - wall

    cpu, wall = time.process_time(), time.perf_counter()
    chosen = fanout.recipients(message, [])
    data = bytes(message.raw.data)
    start, part = 0, 1
    while start < len(chosen):
        size = fanoutslices.slice_size(part, fanoutslices.job_recipients(),
                                       fanoutslices.first_job_recipients())
        fanout.build_job(message, data, chosen[start:start + size])
        start, part = start + size, part + 1
    old_cpu, old_wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{members:,} members ({total:,} recipients):")
    print(f"  in the transaction now, the snapshot: {new_cpu * 1000:,.0f} ms CPU "
          f"({new_cpu / total * 1e6:.1f} us a member), {new_wall * 1000:,.0f} ms wall "
          f"(commit included)")
    print(f"  before, building every job there:     {old_cpu * 1000:,.0f} ms CPU "
          f"({old_cpu / total * 1e6:.1f} us a member), {old_wall * 1000:,.0f} ms wall "
          f"(without writing them); ratio {old_cpu / new_cpu:,.0f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        measure(args.members)
        return 0
    data = Path(tempfile.mkdtemp(prefix="bench-accept-"))
    env = {**os.environ, "DATA_DIR": str(data), "SENDER_AUTH": "off"}
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                       env=env, check=True)
        subprocess.run([sys.executable, __file__, "--inner", "--members", str(args.members)],
                       cwd=ROOT, env=env, check=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
