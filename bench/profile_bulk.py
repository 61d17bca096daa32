"""Karl's CPU per bulk recipient, in one process: validation, spool, scheduler, SMTP.

bench_bulk.py times Karl as a server (HTTP, worker processes, /metrics); this
runs the same job through Karl's own parts in this process (``KARL_WORKERS=0``)
into postfix's smtp-sink and prints the CPU this process spent per recipient,
split into taking the job (JSON, validation), its idempotency fingerprint (every
job messageserver hands over has an Idempotency-Key) and spooling it (one
synced write), the rest being delivery. CPU seconds rather than wall time, so a busy
machine moves the figures less; ``--profile`` adds cProfile's table (process
CPU time) for the delivery. ``--root`` runs another checkout's Karl with the
same harness (e.g. the code before a change, from ``git worktree add``).

Usage: python bench/profile_bulk.py [--members N] [--profile] [--root PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def run(n: int, profile: bool) -> None:
    from bench.bench_bulk import bulk_job, members
    from bench.bench_karl import make_post
    from karl import idempotency
    from karl.config import from_env
    from karl.contract import validate_job
    from karl.relays import RelayPool
    from karl.scheduler import InProcessRunner, Scheduler
    from karl.spool import Spool

    config = from_env()
    raw = make_post()
    body = json.dumps(bulk_job(raw, members(n))).encode()
    spool = Spool(config.spool_dir)
    runner = InProcessRunner(config)
    scheduler = Scheduler(config, spool, relays=RelayPool(config.relays), runner=runner)
    task = asyncio.create_task(scheduler.run())
    spool.add_job(validate_job(bulk_job(raw, ["warm@warm.example"])))  # key loaded, signed
    scheduler.wakeup.set()
    await asyncio.sleep(0.5)
    profiler = cProfile.Profile(time.process_time) if profile else None
    start, wall = os.times(), time.perf_counter()
    data = json.loads(body)
    job = validate_job(data)
    taken = time.process_time()
    try:
        fp = idempotency.fingerprint(data, job)
    except TypeError:  # a checkout (--root) from before the job's own fingerprint
        fp = idempotency.fingerprint(data)
    fingerprinted = time.process_time()
    spool.add_job_once(job, "profile-bulk-1", fp)
    spooled = time.process_time()
    scheduler.wakeup.set()
    if profiler:
        profiler.enable()
    while scheduler.in_flight or spool.due(10 ** 15, 1, set()):
        await asyncio.sleep(0.005)
    if profiler:
        profiler.disable()
    end, wall = os.times(), time.perf_counter() - wall
    cpu = (end.user + end.system - start.user - start.system) / n * 1e6
    taking = (taken - (start.user + start.system)) / n * 1e6
    print(f"{n} recipients in {wall:.2f} s ({n / wall:.0f}/s wall): {cpu:.1f} us of CPU per "
          f"recipient (user {(end.user - start.user) / n * 1e6:.1f}, system "
          f"{(end.system - start.system) / n * 1e6:.1f}); of which taking the job "
          f"{taking:.1f} us, its fingerprint {(fingerprinted - taken) / n * 1e6:.1f} us, "
          f"spooling it {(spooled - fingerprinted) / n * 1e6:.1f} us")
    scheduler.stopping = True
    await scheduler.stop()
    task.cancel()
    await runner.close()
    spool.close()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose karl/ to run (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import bench.bench_bulk  # noqa: F401  (this harness's helpers, whichever karl runs)
    from bench.bench_karl import free_port, start_sink

    if args.root.resolve() != ROOT:  # the other checkout's karl from here on
        for name in [m for m in sys.modules if m == "karl" or m.startswith("karl.")]:
            del sys.modules[name]
        sys.path.insert(0, str(args.root.resolve()))

    port = free_port()
    sink = start_sink(port)
    data = Path(tempfile.mkdtemp(prefix="profile-bulk-"))
    os.environ.update({"DATA_DIR": str(data), "GROUPS_DOMAIN": "groups.localhost",
                       "KARL_RELAYS": f"smtp://127.0.0.1:{port}", "KARL_WORKERS": "0",
                       "INTERNAL_API_TOKEN": "x" * 32,
                       "MESSAGESERVER_URL": "http://127.0.0.1:9"})
    try:
        asyncio.run(run(args.members, args.profile))
    finally:
        sink.terminate()
        sink.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
