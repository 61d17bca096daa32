"""A relay sink fast enough for the load test that still says who got which post, and when.

Postfix's smtp-sink (C, one event loop) takes the deliveries; its ``-d`` option
writes each mail transaction to a file of its own on tmpfs. A sweeper thread
reads the finished files (those smtp-sink no longer holds open, per
/proc/PID/fd), tallies recipients per Message-ID with the file's mtime as the
delivery time, and deletes them, so the directory stays small however long the
run. An in-process aiosmtpd sink topped out near 115 deliveries/s, sharing the
load generator's GIL; smtp-sink is not the bottleneck at Karl's rates.

It counts, it never judges: what a post should have received is the load test's
business (bench/loadtest.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_karl import ensure_sink


@dataclass
class PostCopies:
    """Every copy of one Message-ID the sink received."""

    recipients: set[str] = field(default_factory=set)
    copies: int = 0  # one per RCPT: more than len(recipients) means duplicates
    first_at: float = 0.0  # time.time() of the first and the last copy
    last_at: float = 0.0

    @property
    def duplicates(self) -> int:
        return self.copies - len(self.recipients)


def parse_dump(data: bytes) -> tuple[str, list[str]]:
    """(Message-ID without <>, envelope recipients) of one smtp-sink dump file.

    The dump is smtp-sink's own header block (X-Rcpt-Args: one per RCPT, in
    order) followed by the message as received; lines end in LF. Folded
    headers are unfolded before reading the Message-ID.
    """
    head = data.split(b"\n\n", 1)[0]
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()
        else:
            fields.append(line.rstrip(b"\r"))
    mid, rcpts = "", []
    for f in fields:
        name, _, value = f.partition(b":")
        name = name.strip().lower()
        if name == b"x-rcpt-args":
            token = value.split()[0] if value.split() else b""
            rcpts.append(token.strip(b"<>").decode("utf-8", "replace").lower())
        elif name == b"message-id" and not mid:
            mid = value.strip().strip(b"<>").decode("ascii", "replace")
    return mid, rcpts


class DumpSink:
    """smtp-sink on 127.0.0.1:``port`` capturing to tmpfs, and the sweeper that tallies."""

    def __init__(self, port: int, sweep_every: float = 0.5) -> None:
        self.port = port
        self.sweep_every = sweep_every
        self.posts: dict[str, PostCopies] = {}
        self.total = 0  # copies (one per RCPT) swept so far
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # tmpfs: no disk I/O
        self.dir = Path(tempfile.mkdtemp(prefix="groups-load-sink-", dir=base))
        self.log = self.dir.with_suffix(".log")  # smtp-sink's complaints, shown at stop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sweep_loop, name="dumpsink", daemon=True)

    def start(self) -> DumpSink:
        path = ensure_sink()
        if not path:
            raise SystemExit("the load test needs postfix's smtp-sink (apt-get install postfix)")
        cmd = [path, "-d", f"{self.dir}/%H%M%S.", f"127.0.0.1:{self.port}", "1024"]
        if os.geteuid() == 0:  # smtp-sink refuses to run as root; nobody must write the dumps
            self.dir.chmod(0o777)
            cmd[1:1] = ["-u", "nobody"]
        with open(self.log, "ab") as log:  # a file, not a pipe nobody drains
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"smtp-sink did not start: {self.log.read_text()}") from None
                time.sleep(0.05)
        self._thread.start()
        return self

    def _open_files(self) -> set[str]:
        """Names of the dump files smtp-sink still writes (a transaction in progress)."""
        names = set()
        fd_dir = Path(f"/proc/{self.proc.pid}/fd") if self.proc else None
        if fd_dir is None:
            return names
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue  # closed between listdir and readlink: finished
            if target.startswith(str(self.dir)):
                names.add(os.path.basename(target))
        return names

    def sweep(self, final: bool = False) -> None:
        """Tally and delete every finished dump file; ``final`` once smtp-sink has exited."""
        entries = list(os.scandir(self.dir))  # listed before the open fds are read: see below
        # A file listed here and not open a moment later is finished (it is never
        # reopened); one that is still open is left for the next sweep.
        busy = set() if final else self._open_files()
        for entry in entries:
            if entry.name in busy:
                continue
            try:
                at = entry.stat().st_mtime
                with open(entry.path, "rb") as fh:
                    mid, rcpts = parse_dump(fh.read(65536))
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            with self.lock:
                post = self.posts.get(mid)
                if post is None:
                    post = self.posts[mid] = PostCopies(first_at=at)
                post.copies += len(rcpts)
                post.recipients.update(rcpts)
                post.first_at = min(post.first_at, at)
                post.last_at = max(post.last_at, at)
                self.total += len(rcpts)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_every):
            self.sweep()

    def stop(self) -> None:
        """Stop smtp-sink, tally what it left, delete the dump directory."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir.exists():
            self.sweep(final=True)
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.log.exists():
            said = self.log.read_text(errors="replace").strip()
            if said:
                print(f"smtp-sink said:\n{said[-2000:]}", file=sys.stderr)
            self.log.unlink()
