"""`make loadtest`: the whole platform under load, on loopback, bounded in time.

50 concurrent SMTP senders post to 20 groups of 1,000 members for 60 seconds
while a reader fetches web pages; then we wait (bounded) for Karl to deliver
everything into a counting aiosmtpd sink, and print: posts accepted per
second, deliveries per second, p99 time from SMTP 250 to the last delivery of
that post, web p95, and the checks messages archived = messages accepted and
deliveries = accepted x members.

    python bench/loadtest.py [--senders 50] [--groups 20] [--members 1000]
                             [--seconds 60] [--drain 600]
"""

from __future__ import annotations

import argparse
import random
import smtplib
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.platform import Platform, SinkHandler  # noqa: E402


class CountingSink(SinkHandler):
    """Counts deliveries per post (by Message-ID) and when the last one arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.last_at: dict[str, float] = {}
        self.per_post: dict[str, int] = {}

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        data = envelope.original_content or envelope.content
        head = data.split(b"\r\n\r\n", 1)[0]
        mid = ""
        for line in head.split(b"\r\n"):
            if line[:11].lower() == b"message-id:":
                mid = line[11:].strip().decode("ascii", "replace")
                break
        now = time.monotonic()
        with self.lock:
            n = len(envelope.rcpt_tos)
            self.count += n
            self.per_post[mid] = self.per_post.get(mid, 0) + n
            self.last_at[mid] = now
        return "250 OK"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--drain", type=float, default=600, help="max seconds to wait for delivery")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="groups-load-"))
    platform = Platform(root)
    platform.sink = CountingSink()
    platform.prepare()
    try:
        return run(platform, root, args)
    finally:
        platform.stop()  # never leave the platform's processes behind, whatever happened


def count_archived(platform: Platform) -> int:
    """Messages in the archive, read from the platform's own database (SQLite or PostgreSQL)."""
    if platform.pg_db:
        import psycopg

        with psycopg.connect(platform.env["DATABASE_URL"]) as conn:
            return conn.execute("select count(*) from groups_message").fetchone()[0]
    db = sqlite3.connect(platform.root / "data" / "groups.sqlite3")
    try:
        return db.execute("select count(*) from groups_message").fetchone()[0]
    finally:
        db.close()


def run(platform: Platform, root: Path, args: argparse.Namespace) -> int:
    """Set up the groups, post under load while reading pages, drain, print the table."""
    senders = [f"sender{i}@load.example" for i in range(args.senders)]
    members_file = root / "members.txt"
    others = [f"member{i}@load.example" for i in range(max(0, args.members - len(senders)))]
    members_file.write_text("\n".join(senders + others) + "\n")
    members_per_group = len(senders) + len(others)
    print(f"setting up {args.groups} groups of {members_per_group} members ...", flush=True)
    groups = [f"load{g}" for g in range(args.groups)]
    for name in groups:
        platform.manage("creategroup", name, "--owner", senders[0])
        platform.manage("addmembers", name, "--file", str(members_file))
    platform.start()
    print("platform up; posting for", args.seconds, "s", flush=True)

    accepted: dict[str, float] = {}
    refused: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds

    def sender(address: str) -> None:
        rnd = random.Random(address)
        while time.monotonic() < stop_at:
            try:
                with smtplib.SMTP("127.0.0.1", platform.ports["smtpd"], timeout=60) as smtp:
                    while time.monotonic() < stop_at:
                        msg = EmailMessage()
                        group = rnd.choice(groups)
                        msg["From"] = address
                        msg["To"] = f"{group}@groups.localhost"
                        msg["Subject"] = f"load test {rnd.randrange(1_000_000)}"
                        msg["Message-ID"] = mid = make_msgid(domain="load.example")
                        msg.set_content("A post of the load test.\n" * 20)
                        smtp.send_message(msg)
                        with lock:
                            accepted[mid] = time.monotonic()
            except (smtplib.SMTPException, OSError) as exc:
                with lock:
                    refused.append(str(exc))
                time.sleep(0.5)

    web_latencies: list[float] = []
    web_failures: list[str] = []

    def reader() -> None:
        with httpx.Client(base_url=platform.url("web"), timeout=30) as client:
            while time.monotonic() < stop_at:
                for path in ["/", f"/g/{random.choice(groups)}/",
                             f"/g/{random.choice(groups)}/topics/"]:
                    start = time.monotonic()
                    try:
                        status = client.get(path).status_code
                    except httpx.HTTPError as exc:
                        status, path = 0, f"{path} ({exc})"
                    web_latencies.append(time.monotonic() - start)
                    if status != 200:
                        web_failures.append(f"{status} {path}")

    threads = [threading.Thread(target=sender, args=(a,)) for a in senders]
    threads.append(threading.Thread(target=reader))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    post_seconds = time.monotonic() - t0
    expected = len(accepted) * members_per_group
    print(f"posting done: {len(accepted)} accepted, {len(refused)} refused; "
          f"waiting for {expected} deliveries", flush=True)
    sink: CountingSink = platform.sink  # type: ignore[assignment]
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline and sink.count < expected:
        time.sleep(0.5)
    delivery_seconds = max(sink.last_at.values(), default=t0) - t0
    archived = count_archived(platform)
    lags = [sink.last_at[m] - accepted[m] for m in accepted if m in sink.last_at]

    ok_archive = archived == len(accepted)
    ok_deliveries = sink.count == expected
    ok_web = not web_failures
    print("\n| measure | value |\n| --- | --- |")
    print(f"| posts accepted per second | {len(accepted) / post_seconds:.1f} |")
    print(f"| deliveries per second | {sink.count / max(delivery_seconds, 1e-9):.0f} |")
    print(f"| p99 SMTP 250 -> last delivery | {percentile(lags, 99):.2f} s |")
    print(f"| web p95 ({len(web_latencies)} requests) | "
          f"{percentile(web_latencies, 95) * 1000:.1f} ms (median "
          f"{statistics.median(web_latencies) * 1000 if web_latencies else 0:.1f} ms) |")
    print(f"| archived = accepted | {archived} = {len(accepted)}: "
          f"{'OK' if ok_archive else 'MISMATCH'} |")
    print(f"| deliveries = accepted x members | {sink.count} = {len(accepted)} x "
          f"{members_per_group}: {'OK' if ok_deliveries else 'MISMATCH'} |")
    print(f"| web pages not 200 | {len(web_failures)}"
          f"{': ' + ', '.join(sorted(set(web_failures))[:5]) if web_failures else ''} |")
    print(f"| SMTP sessions refused or broken | {len(refused)}"
          f"{': ' + ', '.join(sorted(set(refused))[:3]) if refused else ''} |")
    return 0 if ok_archive and ok_deliveries and ok_web else 1


if __name__ == "__main__":
    sys.exit(main())
