"""A steady stream of posts from MTA-like senders, and the check that nothing was lost.

The fault tests share it: senders post to a group while something breaks,
and afterwards ``check_nothing_lost`` proves what docs/design.md promises: every
post that got a 250 is archived once and delivered to every member, with
repeats only within the in-flight window the test allows.

The senders behave like MTAs: a 4xx reply or a dropped connection means
"try again shortly"; a 5xx is a permanent refusal, which the checks fail on.
"""

from __future__ import annotations

import smtplib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage

from tests.reliability.conftest import alive, query

MEMBERS = ["alice@example.org", "bob@example.org", "carol@example.org"]
GROUP = "steady"


def norm(mid: str) -> str:
    return mid.strip().strip("<>")


def make_group(p, name: str = GROUP) -> None:
    """The group every stream posts to: alice owns it, bob and carol are members."""
    p.manage("creategroup", name, "--owner", MEMBERS[0])
    p.manage("addmembers", name, *MEMBERS[1:])


@dataclass
class Stream:
    """Senders posting steadily to the group, retrying on 4xx and dropped connections.

    Each of ``senders`` threads posts ``posts`` messages, ``pause`` seconds
    apart, retrying each every ``retry_every`` seconds until it is accepted or
    ``give_up`` seconds have passed (then the post counts as refused).
    """

    port: int
    senders: int = 3
    posts: int = 8
    pause: float = 0.1
    retry_every: float = 0.2
    give_up: float = 60.0
    timeout: float = 20.0
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    accepted: set[str] = field(default_factory=set)
    accepted_at: list[float] = field(default_factory=list)  # time.monotonic() of each 250
    retries: int = 0
    refusals: Counter = field(default_factory=Counter)  # temporary reply codes, or "dropped"
    refused_at: list[float] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Stream:
        for i in range(self.senders):
            t = threading.Thread(target=self._sender, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def _message(self, i: int, n: int) -> tuple[str, EmailMessage]:
        msg = EmailMessage()
        msg["From"] = MEMBERS[i % len(MEMBERS)]
        msg["To"] = f"{GROUP}@groups.localhost"
        msg["Subject"] = f"stream {self.tag} {i}.{n}"
        mid = f"{self.tag}.{i}.{n}@stream.example"
        msg["Message-ID"] = f"<{mid}>"
        msg.set_content(f"Post {n} of sender {i} in stream {self.tag}.\n")
        return mid, msg

    def _sender(self, i: int) -> None:
        for n in range(self.posts):
            mid, msg = self._message(i, n)
            deadline = time.monotonic() + self.give_up
            while True:
                refusal: int | str
                try:
                    with smtplib.SMTP("127.0.0.1", self.port, timeout=self.timeout) as smtp:
                        smtp.send_message(msg)
                    with self.lock:
                        self.accepted.add(mid)
                        self.accepted_at.append(time.monotonic())
                    break
                except smtplib.SMTPRecipientsRefused as exc:
                    refusal = min(code for code, _ in exc.recipients.values())
                    reply = next(iter(exc.recipients.values()))[1]
                except smtplib.SMTPResponseException as exc:
                    refusal, reply = exc.smtp_code, exc.smtp_error
                except (smtplib.SMTPException, OSError):
                    refusal, reply = "dropped", b""  # the MTA keeps the message
                with self.lock:
                    if isinstance(refusal, int) and refusal >= 500:
                        self.permanent.append(f"{mid}: {refusal} {reply!r}")
                        break
                    self.retries += 1
                    self.refusals[refusal] += 1
                    self.refused_at.append(time.monotonic())
                    if time.monotonic() > deadline:
                        self.permanent.append(f"{mid}: never accepted in {self.give_up:.0f} s")
                        break
                time.sleep(self.retry_every)
            time.sleep(self.pause)

    def join(self, timeout: float = 180.0) -> None:
        for t in self.threads:
            t.join(timeout=timeout)

    @property
    def total(self) -> int:
        return self.senders * self.posts


def check_nothing_lost(p, stream: Stream, delivery_slack: int,
                       timeout: float = 60.0) -> dict[str, int]:
    """Archive and deliveries against what was accepted; returns figures for the table."""
    assert stream.permanent == [], stream.permanent
    assert len(stream.accepted) == stream.total
    rows = query(p, "select message_id from groups_message")
    archived = Counter(norm(m) for (m,) in rows if stream.tag in m)
    assert set(archived) == stream.accepted, set(stream.accepted) ^ set(archived)
    archive_dupes = sum(archived.values()) - len(archived)
    # a retry after a lost 250 is recognised by its Message-ID: never archived twice
    assert archive_dupes == 0, f"{archive_dupes} posts archived twice"
    want = sum(archived.values()) * len(MEMBERS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        copies = copies_of(p, stream.tag)
        if all(copies[(m, r)] >= archived[m] for m in archived for r in MEMBERS):
            break
        time.sleep(0.2)
    time.sleep(0.5)  # a late duplicate would arrive by now
    copies = copies_of(p, stream.tag)
    missing = [(m, r) for m in archived for r in MEMBERS if copies[(m, r)] < archived[m]]
    assert missing == [], f"never delivered: {missing[:5]}"
    extra = sum(copies.values()) - want
    assert extra <= delivery_slack, f"{extra} deliveries repeated (allowed {delivery_slack})"
    assert alive(p) == []
    return {"posts": len(archived), "retries": stream.retries, "archive_dupes": archive_dupes,
            "deliveries": sum(copies.values()), "repeated": extra}


def copies_of(p, tag: str) -> Counter:
    """(Message-ID, recipient) -> copies the relay sink received, for one stream."""
    out: Counter = Counter()
    with p.sink.lock:
        messages = list(p.sink.messages)
    for m in messages:
        head = m.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        for line in head.split("\r\n"):
            if line.lower().startswith("message-id:") and tag in line:
                for rcpt in m.rcpt_tos:
                    out[(norm(line.split(":", 1)[1]), rcpt)] += 1
    return out
