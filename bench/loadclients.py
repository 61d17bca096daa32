"""The load test's clients: MTA-like SMTP senders at a shared pace, and a web reader.

Senders behave as MTAs do: a 4xx reply or a dropped connection means "try the
same message again shortly" (with a growing pause), a 5xx is a permanent
refusal. Each sender connects from its own loopback address (127.0.0.10 and
up), as 50 real MTAs would, so smtpd's per-address session cap applies to each
on its own. The pace is one schedule shared by all senders (post k is due at
start + k / rate), so the offered rate stays the rate asked for however many
senders there are; unpaced, every sender posts back to back.

These only record what happened (times, codes, latencies); bench/loadtest.py
decides what it means.
"""

from __future__ import annotations

import random
import re
import smtplib
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

import httpx

# How long a sender waits for any reply. Unpaced, 50 sessions queue behind messageserver
# for tens of seconds; RFC 5321 allows 10 minutes after DATA, but the run must stay bounded.
SMTP_TIMEOUT = 120

WORDS = ("harbour", "lantern", "meadow", "granite", "orchard", "compass", "thistle", "falcon",
         "saffron", "glacier", "ember", "willow", "quarry", "beacon", "marble", "juniper")


@dataclass
class Pacer:
    """Send times shared by every sender: ``rate`` posts/s in all, or back to back (None)."""

    start: float  # time.monotonic()
    stop: float
    rate: float | None
    _issued: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> float | None:
        """When to send the next post, or None once the posting window is over."""
        with self._lock:
            if self.rate is None:
                now = time.monotonic()
                return now if now < self.stop else None
            at = self.start + self._issued / self.rate
            if at >= self.stop:
                return None
            self._issued += 1
            return at


@dataclass
class Posting:
    """What the senders saw: every post offered, and the 250s, deferrals and refusals."""

    offered: dict[str, str] = field(default_factory=dict)  # Message-ID (no <>) -> group
    accepted_at: dict[str, float] = field(default_factory=dict)  # Message-ID -> time.time()
    smtp_seconds: list[float] = field(default_factory=list)  # connect/send to 250, accepted
    deferrals: Counter = field(default_factory=Counter)  # 4xx code or "dropped" -> count
    refused: list[str] = field(default_factory=list)  # 5xx, or never accepted in time
    lock: threading.Lock = field(default_factory=threading.Lock)


def compose(address: str, group: str, mid: str, rnd: random.Random, domain: str
            ) -> EmailMessage:
    """A plain ~2 KB post with searchable words in its subject and body."""
    msg = EmailMessage()
    msg["From"] = address
    msg["To"] = f"{group}@{domain}"
    msg["Subject"] = " ".join(rnd.sample(WORDS, 3))
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{mid}>"
    lines = [" ".join(rnd.choices(WORDS, k=9)) for _ in range(28)]
    msg.set_content("Hello all,\n\n" + "\n".join(lines) + "\n\nA load-test sender\n")
    return msg


def run_sender(index: int, address: str, groups: list[str], port: int, domain: str,
               pacer: Pacer, posting: Posting, give_up_at: float, tag: str) -> None:
    """One MTA: posts while the pacer allows, each retried on 4xx until ``give_up_at``."""
    rnd = random.Random(f"{tag}.{index}")
    source = (f"127.0.0.{10 + index}", 0)
    smtp: smtplib.SMTP | None = None
    n = 0
    while (due := pacer.next()) is not None:
        time.sleep(max(0.0, due - time.monotonic()))
        group = rnd.choice(groups)
        mid = f"load.{tag}.{index}.{n}@load.example"
        n += 1
        msg = compose(address, group, mid, rnd, domain)
        with posting.lock:
            posting.offered[mid] = group
        pause = 0.5
        while True:
            started = time.monotonic()
            try:
                if smtp is None:
                    smtp = smtplib.SMTP("127.0.0.1", port, timeout=SMTP_TIMEOUT,
                                        source_address=source)
                smtp.send_message(msg)
                with posting.lock:
                    posting.accepted_at[mid] = time.time()
                    posting.smtp_seconds.append(time.monotonic() - started)
                break
            except smtplib.SMTPRecipientsRefused as exc:
                code: int | str = min(c for c, _ in exc.recipients.values())
                reply = next(iter(exc.recipients.values()))[1]
            except smtplib.SMTPResponseException as exc:
                code, reply = exc.smtp_code, exc.smtp_error
            except (smtplib.SMTPException, OSError) as exc:
                code, reply = "dropped", str(exc).encode()
            if smtp is not None:  # start the next try on a fresh session, as after a 421
                smtp.close()
                smtp = None
            with posting.lock:
                if isinstance(code, int) and code >= 500:
                    posting.refused.append(f"{code} {reply[:80]!r}")
                    break
                if time.monotonic() > give_up_at:
                    posting.refused.append(f"never accepted (last: {code} {reply[:60]!r})")
                    break
                posting.deferrals[code] += 1
            time.sleep(pause)
            pause = min(pause * 2, 8.0)
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


@dataclass
class WebReading:
    """Latency of every page fetched, by kind, and the fetches that were not a 200."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)


def run_reader(base_url: str, groups: list[str], stop: float, rate: float,
               reading: WebReading, tag: str) -> None:
    """A reader going round the group list, a topic list, a topic page and a search.

    ``rate`` pages per second on a fixed schedule (0: back to back). Topic pages
    are the ones the topic lists linked to; until one has, a topic list stands in.
    """
    rnd = random.Random(tag)
    topics: dict[str, list[str]] = defaultdict(list)
    kinds = ("group list", "topic list", "topic page", "search")
    start, i = time.monotonic(), 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            due = start + i / rate if rate > 0 else time.monotonic()
            if due >= stop:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            kind = kinds[i % len(kinds)]
            i += 1
            group = rnd.choice(groups)
            if kind == "topic page" and not topics[group]:
                known = [g for g in groups if topics[g]]
                group = rnd.choice(known) if known else group
                kind = "topic page" if known else "topic list"
            path = {"group list": "/", "topic list": f"/g/{group}/topics/",
                    "topic page": rnd.choice(topics[group]) if topics[group] else "",
                    "search": f"/search/?q={rnd.choice(WORDS)}"}[kind]
            began = time.monotonic()
            try:
                response = client.get(path)
                status = response.status_code
            except httpx.HTTPError as exc:
                status, response = 0, None
                path = f"{path} ({type(exc).__name__})"
            reading.seconds[kind].append(time.monotonic() - began)
            if status != 200:
                reading.failures.append(f"{status} {kind} {path}")
            elif kind == "topic list" and response is not None:
                found = re.findall(rf'href="(/g/{group}/topic/\d+/)"', response.text)
                topics[group] = list(dict.fromkeys(found))[:50] or topics[group]
