"""Bulk delivery benchmark: recipients/s of Karl's bulk jobs vs Mailman's bulk deliverer.

One 5 KB post to 10,000 members goes into postfix's smtp-sink (a fast C SMTP
sink; bench_karl.py installs it when missing) two ways, in the same run:

- ours: Karl jobs of kind "bulk" (karl/bulk.py) through Karl's HTTP API, handed
  over as messageserver hands over a bulk group's post: in growing parts, the
  sizes computed by messageserver's own slice rule (messageserver.fanoutslices:
  FANOUT_FIRST_BULK_JOB_RECIPIENTS, 2,000, then four times as many, up to
  FANOUT_BULK_JOB_RECIPIENTS, 50,000; set them in the environment to try
  others), taken in domain order as the continuation takes a bulk fan-out's
  members, each part sent with its own Idempotency-Key, the next part
  submitted as soon as Karl has taken the previous one (its 202), while Karl
  sends the earlier ones, as messageserver.fanoutcontinuation does (the parts'
  bodies are built before the clock starts, as the whole job's was). Each part
  is spooled durably (LevelDB, synced) before its 202, one copy signed once
  (DKIM, RSA-2048), up to 100 RCPT per transaction per domain, every
  recipient's outcome written (synced) before it is forgotten. Timed from the
  first submission until the last transaction's 250 of the last part (the
  jobs' timelines); the time to the first transaction's 250 is printed too.
- the reference: GNU Mailman's non-personalised bulk delivery, 10 recipients
  per transaction, unsigned (Mailman does not sign), given the whole list at
  once (that is how Mailman's deliverer gets it). By default a faithful
  re-implementation of mailman.mta.bulk.BulkDelivery in this process
  (``MailmanStyleBulk``: Mailman's own chunkify by top-level-domain buckets,
  one ``msg.as_string()`` per chunk, ``smtplib.SMTP.sendmail`` over one
  connection kept open between sessions as mailman.mta.connection.Connection
  does with its default max_sessions_per_connection = 0), labelled as such.
  With ``--mailman``, GNU Mailman 3.3.10 itself is pip-installed into a
  throwaway venv under var/ (never the project's .venv, never committed) and
  its BulkDelivery(10) is driven against the same sink.

Printed: both rates, their ratio (target: >= 10x), the parts Karl was handed,
when it had taken the last one and when its first and last transactions were
done, the CPU Karl spent per recipient, and the signing ceiling for context (the copies/s a personalised
sender could never beat on this machine: every personal copy needs an RSA
signature; a bulk job needs one).

Usage: python bench/bench_bulk.py [--quick | --large | --members N] [--mailman]
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.bench_karl import (  # noqa: E402
    DOMAIN,
    TOKEN,
    cpu_snapshot,
    free_port,
    make_post,
    process_tree,
    sent_count,
    signing_ceiling,
    start_karl,
    start_sink,
)
from karl.client import KarlClient  # noqa: E402
from karl.dkimkeys import ensure_key  # noqa: E402
from messageserver import fanoutslices  # noqa: E402

CHUNK = 10  # the reference's recipients per transaction (Mailman's max_recipients here)
MAILMAN_VERSION = "3.3.10"
FOOTER = ("-=-=-=-=-=-=-=-=-=-=-=-\nGroups.io-style links for {{ group_name }}:\n"
          "View/Reply Online (#{{ number }}): {{ message_url }}\n"
          "Unsubscribe: {{ unsubscribe_url }}\n-=-=-=-=-=-=-=-=-=-=-=-")
# Where a large announcement list's members are: a few big providers, many small domains.
BIG = [("gmail.com", 35), ("yahoo.com", 10), ("outlook.com", 10), ("hotmail.com", 5),
       ("aol.com", 3), ("comcast.net", 3), ("icloud.com", 3), ("gmx.de", 2), ("web.de", 2),
       ("orange.fr", 2)]


def members(n: int) -> list[str]:
    """``n`` addresses: 75% at ten big providers, the rest over n/20 small domains."""
    wheel = [d for d, weight in BIG for _ in range(weight)]
    out = []
    small = max(1, n // 20)
    tlds = ["org", "edu", "net", "ca", "co.uk", "de", "us", "com"]
    for i in range(n):
        slot = i % 100
        if slot < len(wheel):
            domain = wheel[slot]
        else:
            k = (i * 7919) % small
            domain = f"site{k}.example.{tlds[k % len(tlds)]}"
        out.append(f"member{i}@{domain}")
    return out


def bulk_job(raw: bytes, addresses: list[str]) -> dict:
    """The job messageserver.bulkfanout builds for a bulk group (the same fields)."""
    return {"kind": "bulk", "message_b64": base64.b64encode(raw).decode(),
            "mail_from": f"bounce+1-0123456789abcdef0123@{DOMAIN}",
            "headers": [["List-Id", "Demo <demo.groups.localhost>"], ["Precedence", "list"],
                        ["List-Unsubscribe", "<mailto:demo+unsubscribe@groups.localhost>"]],
            "remove_headers": ["DKIM-Signature"], "footer": {"text": FOOTER},
            "vars": {"group_name": "demo", "number": 12,
                     "message_url": "https://groups.localhost/g/demo/message/12",
                     "unsubscribe_url": "mailto:demo+unsubscribe@groups.localhost"},
            # sorted by domain, as bulkfanout sends them (a domain's members together)
            "recipients": [{"address": a} for a in sorted(
                addresses, key=lambda a: (a.rpartition("@")[2].lower(), a.lower()))],
            "events": ["bounced", "expired", "finished"],
            "meta": {"group": "demo", "number": 12, "kind": "post", "delivery": "bulk"}}


def parts(addresses: list[str]) -> list[list[str]]:
    """``addresses`` (in member order) cut as messageserver cuts a bulk fan-out.

    The sizes are messageserver.fanoutslices' (this process's settings); the
    members are taken in the continuation's order for a bulk fan-out (its
    ``_bulk_members``: by domain, lower-cased, then membership, here the
    position in ``addresses``).
    """
    order = sorted(range(len(addresses)),
                   key=lambda i: (addresses[i].partition("@")[2].lower(), i))
    addresses = [addresses[i] for i in order]
    out, start = [], 0
    for size in fanoutslices.sizes(len(addresses), bulk=True):
        out.append(addresses[start:start + size])
        start += size
    return out


def karl_rate(raw: bytes, addresses: list[str], sink: subprocess.Popen, sink_port: int,
              workers: int | None, concurrency: int | None) -> tuple[float, float, float]:
    """(recipients/s, Karl's CPU ms per recipient, smtp-sink's) for one bulk post.

    The post's recipients go to Karl in ``parts``, one job each with its own
    Idempotency-Key, each submitted as soon as Karl has taken the one before
    (the continuation builds its next slice then: that building is
    messageserver's, not timed here, as Mailman's list is built before its
    clock starts too). Timed from the first submission to the last
    transaction's 250 of any part (the jobs' timelines, ``last_sent_ms``);
    /metrics is polled seldom, as it costs Karl CPU.
    """
    data = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    extra = {} if concurrency is None else {"KARL_CONCURRENCY": str(concurrency)}
    if workers is not None:
        extra["KARL_WORKERS"] = str(workers)
    try:
        proc, port = start_karl(data, f"smtp://127.0.0.1:{sink_port}",
                                workers if workers is not None else default_workers(), **extra)
        client = KarlClient(f"http://127.0.0.1:{port}", TOKEN, timeout=120)
        warm = [f"warm{i}@warm.example" for i in range(200)]
        client.submit_job(bulk_job(raw, warm))  # workers started, key loaded
        while sent_count(port) < len(warm):
            time.sleep(0.05)
        pids = process_tree(proc.pid)
        settle(pids)  # the warm-up needs no worker: let the workers finish starting
        cut = parts(addresses)
        # built before the clock starts, as the whole job's body was and as Mailman's
        # list is: what is timed is Karl's (messageserver's building: bench_fanout.py)
        bodies = [json.dumps(bulk_job(raw, part)).encode() for part in cut]
        size = sum(map(len, bodies))
        before = cpu_snapshot(pids | {sink.pid: "smtp-sink"})
        started = time.time()
        job_ids = []
        for number, body in enumerate(bodies, 1):
            response = httpx.post(f"http://127.0.0.1:{port}/v1/jobs", content=body,
                                  timeout=120, headers={
                                      "Authorization": f"Bearer {TOKEN}",
                                      "Content-Type": "application/json",
                                      "Idempotency-Key": f"bench-bulk-{started}-{number}"})
            response.raise_for_status()
            job_ids.append(response.json()["id"])
        accepted = time.time() - started
        while sent_count(port) < len(warm) + len(addresses):
            time.sleep(0.1)
        after = cpu_snapshot(pids | {sink.pid: "smtp-sink"})
        timelines = [client.job_status(job_id, summary=True)["timeline"] for job_id in job_ids]
        elapsed = max(t["last_sent_ms"] for t in timelines) / 1000 - started
        first = min(t["first_sent_ms"] for t in timelines) / 1000 - started
        proc.terminate()
        proc.wait(30)
        karl = sum(after[p] - before[p] for p in pids) / len(addresses) * 1000
        sink_cpu = (after[sink.pid] - before[sink.pid]) / len(addresses) * 1000
        print(f"  (Karl was handed {len(cut)} parts as messageserver's fan-out hands them "
              f"({', '.join(f'{len(p):,}' for p in cut)} recipients; {size // 1024} KB), each "
              f"validated, spooled and synced before its 202, the last taken at "
              f"{accepted * 1000:.0f} ms; first transaction done at {first * 1000:.0f} ms, "
              f"the last at {elapsed * 1000:.0f} ms)", flush=True)
        return len(addresses) / elapsed, karl, sink_cpu
    finally:
        shutil.rmtree(data, ignore_errors=True)


def settle(pids: dict[int, str], quiet: float = 0.02, limit: float = 20.0) -> None:
    """Wait until Karl's processes are idle (under ``quiet`` CPU seconds in 0.3 s).

    A bulk job is sent by the server process, so the warm-up job no longer
    waits for the delivery workers Karl starts (KARL_WORKERS); their start-up
    (imports, keys) would otherwise be timed and counted as the job's CPU.
    """
    deadline = time.monotonic() + limit
    before = cpu_snapshot(pids)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        after = cpu_snapshot(pids)
        if sum(after[p] - before[p] for p in pids) < quiet:
            return
        before = after


def default_workers() -> int:
    """KARL_WORKERS' default (karl.config.from_env): none on one core, else up to 4."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(4, cores)


# ---------------------------------------------------------------- the reference

CHUNKMAP = {"com": 1, "net": 2, "org": 2, "edu": 3, "us": 3, "ca": 3}  # mailman/mta/bulk.py


def chunkify(recipients: set[str], max_recipients: int) -> list[set[str]]:
    """mailman.mta.bulk.BulkDelivery.chunkify: top-level-domain buckets, then fixed chunks."""
    by_bucket: dict[int, set[str]] = {}
    for address in recipients:
        bucket = CHUNKMAP.get(address.partition("@")[2].split(".")[-1], 0)
        by_bucket.setdefault(bucket, set()).add(address)
    chunks: list[set[str]] = []
    chunk: set[str] = set()
    for tld_chunk in sorted(by_bucket.values(), key=len, reverse=True):
        while tld_chunk:
            chunk.add(tld_chunk.pop())
            if len(chunk) == max_recipients:
                chunks.append(chunk)
                chunk = set()
        if chunk:
            chunks.append(chunk)
            chunk = set()
    return chunks


class MailmanStyleBulk:
    """A re-implementation of Mailman 3's BulkDelivery + BaseDelivery + Connection loop.

    Not Mailman itself (see ``--mailman`` for that): the same steps in the same
    order, without Mailman's runners, database and logging around them.
    """

    def __init__(self, host: str, port: int, max_recipients: int = CHUNK,
                 sessions_per_connection: int = 0) -> None:
        self.host, self.port = host, port
        self.max_recipients = max_recipients
        self.sessions_per_connection = sessions_per_connection
        self.connection: smtplib.SMTP | None = None
        self.session_count = 0

    def sendmail(self, sender: str, recipients: list[str], msgtext: str) -> dict:
        """mailman.mta.connection.Connection.sendmail."""
        if self.connection is None:
            self.connection = smtplib.SMTP(self.host, self.port)
            self.session_count = self.sessions_per_connection
        msgtext = msgtext.encode("ascii", "replace").decode("ascii")
        try:
            results = self.connection.sendmail(sender, recipients, msgtext)
        except smtplib.SMTPException:
            self.quit()
            raise
        self.session_count -= 1
        if self.session_count == 0:
            self.quit()
        return results

    def quit(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except smtplib.SMTPException:
                pass
            self.connection = None

    def deliver(self, msg: email.message.Message, recipients: set[str], sender: str) -> dict:
        """BulkDelivery.deliver: each chunk through BaseDelivery._deliver_to_recipients."""
        refused: dict = {}
        for chunk in chunkify(set(recipients), self.max_recipients):
            try:
                refused.update(self.sendmail(sender, sorted(chunk), msg.as_string()))
            except smtplib.SMTPRecipientsRefused as error:
                refused.update(error.recipients)
        return refused


def reference_rate(raw: bytes, addresses: list[str], sink_port: int) -> float:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    sender = f"demo-bounces@{DOMAIN}"
    deliverer = MailmanStyleBulk("127.0.0.1", sink_port)
    started = time.perf_counter()
    refused = deliverer.deliver(msg, set(addresses), sender)
    elapsed = time.perf_counter() - started
    deliverer.quit()
    assert not refused, f"the sink refused {len(refused)} recipients"
    return len(addresses) / elapsed


# ---------------------------------------------------------------- GNU Mailman itself

MAILMAN_DRIVER = r"""
import json, sys, tempfile, time, email
from pathlib import Path
port, count_file, raw_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
var = Path(tempfile.mkdtemp(prefix="mailman-bench-"))
cfg = var / "mailman.cfg"
cfg.write_text(f'''[mailman]
layout: here
[paths.here]
var_dir: {var}
[mta]
smtp_host: 127.0.0.1
smtp_port: {port}
max_recipients: 10
[devmode]
enabled: no
''')
from mailman.core.initialize import initialize
initialize(str(cfg))
from mailman.mta.bulk import BulkDelivery
recipients = set(json.loads(Path(count_file).read_text()))
msg = email.message_from_bytes(Path(raw_file).read_bytes(), _class=__import__(
    "mailman.email.message", fromlist=["Message"]).Message)
deliverer = BulkDelivery(10)
started = time.perf_counter()
refused = deliverer.deliver(None, msg, {"recipients": recipients, "nodecorate": True,
                                        "sender": "demo-bounces@groups.localhost"})
elapsed = time.perf_counter() - started
print(json.dumps({"elapsed": elapsed, "refused": len(refused)}))
"""


def mailman_python() -> Path | None:
    """GNU Mailman in a throwaway venv under var/ (created on first use; never .venv)."""
    venv = ROOT / "var" / "mailman-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} and installing mailman=={MAILMAN_VERSION} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import mailman.mta.bulk"],
                           capture_output=True)
    if probe.returncode != 0:
        done = subprocess.run([str(python), "-m", "pip", "install", "-q",
                               f"mailman=={MAILMAN_VERSION}"], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"pip install mailman failed: {done.stderr[-500:]}", flush=True)
            return None
    return python


def mailman_rate(raw: bytes, addresses: list[str], sink_port: int) -> float | None:
    python = mailman_python()
    if python is None:
        return None
    work = Path(tempfile.mkdtemp(prefix="bench-mailman-"))
    try:
        (work / "rcpts.json").write_text(json.dumps(addresses))
        (work / "post.eml").write_bytes(raw)
        (work / "driver.py").write_text(MAILMAN_DRIVER)
        run = subprocess.run([str(python), str(work / "driver.py"), str(sink_port),
                              str(work / "rcpts.json"), str(work / "post.eml")],
                             capture_output=True, text=True, timeout=600, cwd=work)
        if run.returncode != 0:
            print(f"GNU Mailman's BulkDelivery could not be driven: {run.stderr[-800:]}",
                  flush=True)
            return None
        result = json.loads(run.stdout.strip().splitlines()[-1])
        if result["refused"]:
            print(f"the sink refused {result['refused']} of Mailman's recipients", flush=True)
        return len(addresses) / result["elapsed"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="2,000 members")
    parser.add_argument("--large", action="store_true",
                        help="100,000 members (a large announcement group; about 1 min "
                             "more with --mailman)")
    parser.add_argument("--workers", type=int, default=None,
                        help="KARL_WORKERS for Karl (default: Karl's own default)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="KARL_CONCURRENCY (default: Karl's own; a bulk transaction "
                             "counts as one)")
    parser.add_argument("--mailman", action="store_true",
                        help=f"also drive GNU Mailman {MAILMAN_VERSION}'s own BulkDelivery "
                             "(pip-installed into var/mailman-venv on first use)")
    args = parser.parse_args()
    n = 2000 if args.quick else 100_000 if args.large else args.members
    raw = make_post()
    addresses = members(n)
    sink_port = free_port()
    sink = start_sink(sink_port)
    try:
        print(f"bulk delivery: {n} members over {len({a.split('@')[1] for a in addresses})} "
              f"domains, a {len(raw)} byte post, into smtp-sink", flush=True)
        reference = reference_rate(raw, addresses, sink_port)
        ours, cpu, sink_cpu = karl_rate(raw, addresses, sink, sink_port, args.workers,
                                        args.concurrency)
        mailman = mailman_rate(raw, addresses, sink_port) if args.mailman else None
        key_pem = ensure_key(Path(tempfile.mkdtemp(prefix="bench-key-")) / "k.pem").read_bytes()
        ceiling = signing_ceiling(key_pem, os.cpu_count() or 1, seconds=2.0)
    finally:
        sink.terminate()
        sink.wait(10)
    print(f"  Karl bulk jobs (signed once, <=100 RCPT/transaction, handed over in messageserver's "
          f"growing parts): {ours:10.0f} recipients/s "
          f"({cpu * 1000:.1f} us of Karl CPU per recipient, {sink_cpu * 1000:.1f} us of "
          "smtp-sink's)")
    print(f"  reference: Mailman-style bulk (re-implementation of mailman.mta.bulk, "
          f"{CHUNK} RCPT/transaction, unsigned, the whole list at once): {reference:10.0f} "
          "recipients/s")
    print(f"  ratio Karl bulk / Mailman-style reference: {ours / reference:.1f}x (target >= 10x)")
    if args.mailman:
        if mailman is None:
            print("  GNU Mailman itself: not measured (see above)")
        else:
            print(f"  GNU Mailman {MAILMAN_VERSION} BulkDelivery(10) itself: {mailman:10.0f} "
                  f"recipients/s; ratio Karl bulk / Mailman: {ours / mailman:.1f}x "
                  "(target >= 10x)")
    print(f"  context: signing ceiling {ceiling:.0f} RSA-2048 signatures/s on "
          f"{os.cpu_count()} cores: a personalised sender can never exceed it; a bulk job "
          "signs once")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
