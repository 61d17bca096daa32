"""Karl's fan-out benchmark: signed, personalised deliveries per second into postfix's smtp-sink.

One 5 KB post to 10,000 recipients goes through Karl's HTTP API (as
messageserver sends it) into smtp-sink, a fast C SMTP sink from Debian's
postfix package (installed here non-interactively if missing). The reference
does the same work the plain way in this process, one message after another:
render the footer with Jinja2, rebuild the message with the email package,
sign with dkimpy, send with smtplib over one reused connection. Printed:
deliveries/s for both, their ratio, the CPU each process spent per delivery,
the machine's signing ceiling measured in the same run (every core doing
nothing but RSA signatures: every copy needs one, so no sender can beat it),
and Karl's RSS as 100,000 recipients are spooled (with the relay down, so they
stay spooled).

Usage: python bench/bench_karl.py [--quick] [--recipients N] [--workers N] [--no-rss]
KARL_PY_ARGS="-m cProfile -o /tmp/karl.prof" profiles the Karl process.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from karl.client import KarlClient  # noqa: E402
from karl.dkimkeys import ensure_key  # noqa: E402

TOKEN = "bench-token"
DOMAIN = "groups.localhost"
FOOTER = ("--\nYou are subscribed to {{ group }} as {{ email }}.\n"
          "Unsubscribe: {{ unsubscribe_url }}\nTopic: {{ topic_url }}")
SINK_PATHS = ("/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_sink() -> str | None:
    return shutil.which("smtp-sink") or next((p for p in SINK_PATHS if os.path.exists(p)), None)


def ensure_sink() -> str | None:
    """smtp-sink from Debian's postfix package; installed non-interactively when missing."""
    path = find_sink()
    if path:
        return path
    if not shutil.which("apt-get") or os.geteuid() != 0:
        print("smtp-sink is missing and apt-get is unavailable (or not root): skipping the "
              "install; falling back to an aiosmtpd sink, which is much slower", flush=True)
        return None
    print("installing postfix for smtp-sink (DEBIAN_FRONTEND=noninteractive, "
          "'No configuration')...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select "
                   b"No configuration\n", check=False)
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], env=env, check=False,
                   stdout=subprocess.DEVNULL)
    path = find_sink()
    if not path:
        print("postfix installation failed: falling back to an aiosmtpd sink", flush=True)
    return path


def start_sink(port: int) -> subprocess.Popen:
    path = ensure_sink()
    if path:
        cmd = [path, "-u", "nobody", f"127.0.0.1:{port}", "1024"]
    else:
        cmd = [sys.executable, "-c", (
            "import asyncio,sys;from aiosmtpd.controller import Controller\n"
            "class H:\n async def handle_DATA(s,*a): return '250 OK'\n"
            f"c=Controller(H(),hostname='127.0.0.1',port={port});c.start()\n"
            "import time\nwhile True: time.sleep(3600)")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the SMTP sink did not start")


def start_karl(data: Path, relay: str, workers: int, **extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARL_")}
    env.update({"DATA_DIR": str(data), "GROUPS_DOMAIN": DOMAIN, "KARL_PORT": str(port),
                "KARL_RELAYS": relay, "INTERNAL_API_TOKEN": TOKEN,
                "KARL_WORKERS": str(workers), "MESSAGESERVER_URL": "http://127.0.0.1:9",
                "ERRORD_URL": "http://127.0.0.1:9", **extra})
    log = open(data / "karl.log", "ab")  # noqa: SIM115
    python = [sys.executable, *os.environ.get("KARL_PY_ARGS", "").split()]
    proc = subprocess.Popen([*python, "-m", "karl"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, port
        except httpx.TransportError:
            if proc.poll() is not None:
                raise SystemExit((data / "karl.log").read_text()[-3000:]) from None
            time.sleep(0.1)
    raise SystemExit("karl did not start")


def make_post() -> bytes:
    paragraph = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
                 "tempor incididunt ut labore et dolore magna aliqua.\n")
    body = "Hello everyone,\n\n" + paragraph * 38 + "\nBob\n"
    head = ("From: Bob Member <bob@example.org>\nTo: demo@groups.localhost\n"
            "Subject: A 5 KB post to the group\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n"
            "Message-ID: <bench-1@example.org>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
    return (head + body).replace("\n", "\r\n").encode()


def recipient_vars(i: int) -> dict[str, str]:
    return {"group": "demo", "email": f"member{i}@example.org",
            "unsubscribe_url": f"https://groups.localhost/unsubscribe/{i:08d}-c2lnbmF0dXJl/",
            "topic_url": "https://groups.localhost/g/demo/topic/12/"}


def job(raw: bytes, start: int, count: int) -> dict:
    return {"message_b64": base64.b64encode(raw).decode(), "mail_from": f"bounce@{DOMAIN}",
            "headers": [["List-Id", "<demo.groups.localhost>"], ["Precedence", "list"]],
            "remove_headers": ["DKIM-Signature"], "footer": {"text": FOOTER},
            "recipients": [{"address": f"member{i}@example.org",
                            "mail_from": f"bounce+{i:08d}@{DOMAIN}",
                            "headers": [["List-Unsubscribe",
                                         f"<https://groups.localhost/unsubscribe/{i:08d}/>"]],
                            "vars": recipient_vars(i)} for i in range(start, start + count)]}


_poller = httpx.Client()  # one client: a new one per poll costs the CPU we are measuring


def sent_count(port: int) -> float:
    text = _poller.get(f"http://127.0.0.1:{port}/metrics",
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("karl_deliveries_total{") and 'state="sent"' in line)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> dict[int, str]:
    """The process and its children, named by their command line's gist."""
    tree = {pid: "karl server"}
    for child in Path("/proc").glob("[0-9]*"):
        try:
            stat = (child / "stat").read_text()
            cmd = (child / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            tree[int(child.name)] = ("karl resource tracker" if b"resource_tracker" in cmd
                                     else "karl worker")
    return tree


def cpu_snapshot(pids: dict[int, str]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in pids}


def karl_rate(raw: bytes, n: int, sink: subprocess.Popen, sink_port: int,
              workers: int) -> tuple[float, dict[str, float]]:
    data = Path(tempfile.mkdtemp(prefix="bench-karl-"))
    try:
        proc, port = start_karl(data, f"smtp://127.0.0.1:{sink_port}", workers,
                                KARL_CONCURRENCY="4000", KARL_BATCH_SIZE="200",
                                KARL_CONNECTIONS_PER_HOST="8")
        client = KarlClient(f"http://127.0.0.1:{port}", TOKEN, timeout=120)
        client.submit_job(job(raw, 0, 200))  # warm up: workers started, key loaded
        while sent_count(port) < 200:
            time.sleep(0.05)
        body = job(raw, 1000, n)
        pids = process_tree(proc.pid) | {sink.pid: "smtp-sink"}
        before = cpu_snapshot(pids)
        started = time.time()
        job_id = client.submit_job(body)
        while sent_count(port) < n + 200:
            time.sleep(0.2)  # /metrics costs Karl CPU: poll seldom, time by the job's timeline
        after = cpu_snapshot(pids)
        last = client.job_status(job_id, summary=True)["timeline"]["last_sent_ms"] / 1000
        elapsed = last - started
        proc.terminate()
        proc.wait(30)
        per_copy: dict[str, float] = defaultdict(float)
        for pid, name in pids.items():
            per_copy[name] += (after[pid] - before[pid]) / n * 1000
        return n / elapsed, dict(per_copy)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def reference_rate(raw: bytes, n: int, sink_port: int, key_pem: bytes) -> float:
    """The plain way: Jinja2, the email package, dkimpy, smtplib; one message at a time."""
    import dkim
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = ImmutableSandboxedEnvironment().from_string(FOOTER)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink_port) as smtp:
        for i in range(n):
            msg = email.message_from_bytes(raw, policy=email.policy.SMTP)
            footer = template.render(recipient_vars(i))
            msg.set_content(msg.get_content() + "\n" + footer + "\n")
            msg["List-Id"] = "<demo.groups.localhost>"
            msg["List-Unsubscribe"] = f"<https://groups.localhost/unsubscribe/{i:08d}/>"
            data = msg.as_bytes()
            sig = dkim.sign(data, b"groups", DOMAIN.encode(), key_pem,
                            canonicalize=(b"relaxed", b"relaxed"),
                            include_headers=[b"from", b"to", b"subject", b"date",
                                             b"message-id", b"list-id", b"list-unsubscribe"])
            smtp.sendmail(f"bounce+{i:08d}@{DOMAIN}", [f"member{i}@example.org"], sig + data)
    return n / (time.perf_counter() - started)


def _sign_for(key_pem: bytes, seconds: float) -> tuple[int, float]:
    """(signatures made, CPU seconds they took) in ``seconds`` of wall time."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(key_pem, password=None)
    data, count = b"x" * 400, 0
    cpu = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        count += 1
    return count, time.process_time() - cpu


def signing_ceiling_and_cost(key_pem: bytes, cores: int,
                             seconds: float = 3.0) -> tuple[float, float]:
    """(signatures a second with every core signing, milliseconds of CPU one takes).

    The rate is what the machine gives now, with whatever else runs on it; the
    CPU a signature takes hardly moves with that, so it is the steadier yardstick.
    """
    import concurrent.futures

    with concurrent.futures.ProcessPoolExecutor(cores) as pool:
        results = list(pool.map(_sign_for, [key_pem] * cores, [seconds] * cores))
    count = sum(n for n, _ in results)
    return count / seconds, sum(cpu for _, cpu in results) / max(count, 1) * 1000


def signing_ceiling(key_pem: bytes, cores: int, seconds: float = 3.0) -> float:
    """RSA-2048 signatures per second with every core signing and doing nothing else.

    Every copy needs its own signature (its footer and List-Unsubscribe are its
    own), so no sender can beat this on this machine, now.
    """
    return signing_ceiling_and_cost(key_pem, cores, seconds)[0]


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_rss(raw: bytes, total: int, step: int) -> list[tuple[int, int, int, int, int]]:
    """(spooled, RSS MB, peak RSS MB) as the spool grows, the relay down so nothing leaves."""
    data = Path(tempfile.mkdtemp(prefix="bench-karl-rss-"))
    down = f"smtp://127.0.0.1:{free_port()}"
    rows = []
    try:
        proc, port = start_karl(data, down, 0, KARL_RETRY_BASE="3600", KARL_BATCH_SIZE="500")
        client = KarlClient(f"http://127.0.0.1:{port}", TOKEN, timeout=300)
        for start in range(0, total, step):
            client.submit_job(job(raw, start, step))
            time.sleep(0.5)
            rows.append((start + step, rss_kb(proc.pid, "VmRSS") // 1024,
                         rss_kb(proc.pid, "VmHWM") // 1024, rss_kb(proc.pid, "RssAnon") // 1024,
                         rss_kb(proc.pid, "RssFile") // 1024))
        proc.terminate()
        proc.wait(30)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer recipients, for a smoke run")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-rss", action="store_true", help="skip the spooled-RSS measurement")
    args = parser.parse_args()
    n = 2000 if args.quick else args.recipients
    ref_n = 100 if args.quick else 300
    spool_total = 20_000 if args.quick else 100_000
    raw = make_post()
    sink_port = free_port()
    sink = start_sink(sink_port)
    key_dir = Path(tempfile.mkdtemp(prefix="bench-key-"))
    try:
        key_pem = ensure_key(key_dir / "k.pem").read_bytes()
        ref = reference_rate(raw, ref_n, sink_port, key_pem)
        print(f"reference (Jinja2 + email package + dkimpy + smtplib, one by one): "
              f"{ref:,.0f} deliveries/s over {ref_n}", flush=True)
        cores = os.cpu_count() or 1
        ceiling = signing_ceiling(key_pem, cores)
        rate, cpu = karl_rate(raw, n, sink, sink_port, args.workers)
        print(f"karl ({args.workers} workers, {len(raw) / 1024:.1f} KB post, {n:,} recipients, "
              f"signed and personalised): {rate:,.0f} deliveries/s", flush=True)
        print(f"ratio karl/reference: {rate / ref:.1f}x  (targets: >= 1,500/s and >= 10x)",
              flush=True)
        print("CPU per delivery: " + ", ".join(f"{name} {ms:.3f} ms" for name, ms in
                                                sorted(cpu.items())) +
              f"; total {sum(cpu.values()):.3f} ms", flush=True)
        print(f"signing ceiling: {cores} cores doing nothing but RSA-2048 signatures (OpenSSL via "
              f"cryptography) make {ceiling:,.0f}/s ({cores * 1000 / ceiling:.3f} ms of CPU each); "
              f"karl delivers at {rate / ceiling:.0%} of that", flush=True)
        if args.no_rss:
            return 0
        rows = peak_rss(raw, spool_total, spool_total // 5)
        for spooled, rss, hwm, anon, mapped in rows:
            print(f"karl RSS with {spooled:>7,} recipients spooled: {rss} MB (peak {hwm} MB; "
                  f"heap {anon} MB, mapped files {mapped} MB)")
        print(f"karl peak RSS with {spool_total:,} recipients spooled: {rows[-1][2]} MB; RSS "
              f"{rows[0][1]} MB at {rows[0][0]:,} and {rows[-1][1]} MB at {rows[-1][0]:,} "
              f"(target < 200 MB, flat)")
    finally:
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(key_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
