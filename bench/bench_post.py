"""What one post costs the whole platform: CPU per process and database rows, per post and per copy.

The real processes (smtpd, messageserver, Karl with its workers) on a fresh
DATA_DIR, one group of --members members, --posts posts sent one after another
through smtpd with smtplib, every copy delivered by Karl into postfix's
smtp-sink (as bench/bench_karl.py does). Printed: each process's CPU per post
and per delivered copy (from /proc, children included), the rows each table
gained per post, and the wall time. docs/capacity.md builds its model on these
figures; like every benchmark here the absolute numbers belong to this machine.

    python bench/bench_post.py [--members 2000] [--posts 5]

SQLite unless DATABASE_URL points at PostgreSQL (then row counts are read there).
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_karl import (  # noqa: E402
    TOKEN,
    cpu_seconds,
    free_port,
    make_post,
    process_tree,
    sent_count,
    start_sink,
)


def wait_health(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(log.read_text()[-3000:])
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def row_counts(env: dict[str, str]) -> dict[str, int]:
    url = env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(url) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    with sqlite3.connect(Path(env["DATA_DIR"]) / "groups.sqlite3") as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def outbox_bytes(env: dict[str, str]) -> int:
    """Size of the largest job queued in the outbox (its JSON: every recipient is in it)."""
    url = env.get("DATABASE_URL", "")
    query = "SELECT max(length(CAST(payload AS text))) FROM groups_outboxitem WHERE kind = 'job'"
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(query).fetchone()[0] or 0
    with sqlite3.connect(Path(env["DATA_DIR"]) / "groups.sqlite3") as conn:
        return conn.execute(query).fetchone()[0] or 0


def platform_env(data: Path, sink_port: int) -> dict[str, str]:
    """The environment of a whole platform on ``data``, relaying to the sink on ``sink_port``."""
    ports = {name: free_port() for name in ("smtpd", "messageserver", "karl", "errord", "http")}
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "GROUPS_URLCONF") and not k.startswith("KARL_")}
    env.update({"DATA_DIR": str(data), "GROUPS_DOMAIN": "groups.localhost",
                "INTERNAL_API_TOKEN": TOKEN, "SECRET_KEY": "bench-" + "k" * 50,
                "SMTPD_PORT": str(ports["smtpd"]), "SMTPD_HTTP_PORT": str(ports["http"]),
                "MESSAGESERVER_PORT": str(ports["messageserver"]), "KARL_PORT": str(ports["karl"]),
                "ERRORD_PORT": str(ports["errord"]), "SENDER_AUTH": "off",
                "KARL_RELAYS": f"smtp://127.0.0.1:{sink_port}", "PYTHONUNBUFFERED": "1"})
    return env


def make_group(env: dict[str, str], name: str, members: int) -> None:
    """A group of ``members`` members (its owner and member0..N-2@example.org)."""
    data = Path(env["DATA_DIR"])
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "creategroup", name, "--owner", "owner@example.org"],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    if members > 1:
        listing = data / f"members-{name}.txt"
        listing.write_text("".join(f"member{i}@example.org\n" for i in range(members - 1)))
        subprocess.run([*manage, "addmembers", name, "--file", str(listing)], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)


def start_platform(env: dict[str, str]) -> dict[str, subprocess.Popen]:
    """messageserver, Karl and smtpd, each answering its /health; logs in DATA_DIR."""
    data = Path(env["DATA_DIR"])
    procs = {}
    for name in ("messageserver", "karl", "smtpd"):
        log = data / f"{name}.log"
        python = [sys.executable, *os.environ.get(f"{name.upper()}_PY_ARGS", "").split()]
        procs[name] = subprocess.Popen([*python, "-m", name], cwd=ROOT, env=env,
                                       stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        port = env["SMTPD_HTTP_PORT"] if name == "smtpd" else env[f"{name.upper()}_PORT"]
        wait_health(f"http://127.0.0.1:{port}/health", procs[name], log)
    return procs


def stop_platform(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        proc.terminate()
    for proc in procs.values():
        proc.wait(30)


def group_post(raw: bytes, group: str, n: int) -> bytes:
    """The benchmark's post, sent by the group's owner to ``group`` with its own Message-ID."""
    return raw.replace(b"bench-1@", f"bench-{group}-{n}@".encode()).replace(
        b"demo@groups", f"{group}@groups".encode()).replace(b"bob@example.org",
                                                           b"owner@example.org")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=5)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-post-"))
    sink_port = free_port()
    env = platform_env(data, sink_port)
    sink = start_sink(sink_port)
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                   env=env, check=True)
    make_group(env, "bench", args.members)
    procs = start_platform(env)
    karl_port = int(env["KARL_PORT"])
    try:
        time.sleep(1)  # Karl's workers up
        pids: dict[int, str] = {procs["smtpd"].pid: "smtpd",
                                procs["messageserver"].pid: "messageserver", sink.pid: "smtp-sink"}
        pids |= {pid: ("karl" if name == "karl server" else name)
                 for pid, name in process_tree(procs["karl"].pid).items()}
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        rows_before = row_counts(env)
        raw = make_post()
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", int(env["SMTPD_PORT"]), timeout=120) as client:
            for n in range(args.posts):
                client.sendmail("owner@example.org", ["bench@groups.localhost"],
                                group_post(raw, "bench", n))
        total = args.posts * args.members
        while sent_count(karl_port) < total:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu_after = {pid: cpu_seconds(pid) for pid in pids}
        rows_after = row_counts(env)
    finally:
        stop_platform(procs)
        sink.terminate()
    spent: dict[str, float] = {}
    for pid, name in pids.items():
        spent[name] = spent.get(name, 0.0) + cpu_after[pid] - cpu_before[pid]
    print(f"{args.posts} posts x {args.members:,} members = {total:,} deliveries in "
          f"{elapsed:.1f} s ({total / elapsed:,.0f}/s), 5 KB post, signed and personalised")
    print("CPU per post and per delivery, by process:")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14} {seconds / args.posts * 1000:9.1f} ms/post "
              f"{seconds / total * 1000:7.3f} ms/delivery")
    cpu = sum(spent.values())
    print(f"  {'total':14} {cpu / args.posts * 1000:9.1f} ms/post {cpu / total * 1000:7.3f} "
          f"ms/delivery")
    job = outbox_bytes(env)
    print(f"outbox job of one post: {job:,} bytes ({job / args.members:,.0f} per recipient)")
    print("rows written per post, by table:")
    for table in sorted(rows_after):
        grown = rows_after[table] - rows_before.get(table, 0)
        if grown:
            print(f"  {table:32} {grown / args.posts:10.1f}")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
