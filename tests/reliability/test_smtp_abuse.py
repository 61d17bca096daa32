"""SMTP abuse against the real smtpd (with the real messageserver behind it).

Each test is a transcript: the client line we send and the reply we expect,
over a raw socket, so nothing in a client library smooths the protocol over.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.reliability.conftest import shared_platform

pytestmark = pytest.mark.e2e


class Transcript:
    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed by server after {lines!r} / {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def send(self, line: bytes | str, expect: int | tuple[int, ...] | None = None
             ) -> tuple[int, str]:
        data = line.encode() if isinstance(line, str) else line
        self.sock.sendall(data if data.endswith(b"\n") else data + b"\r\n")
        code, text = self.reply()
        if expect is not None:
            expected = (expect,) if isinstance(expect, int) else expect
            assert code in expected, f"{line!r} -> {code} {text}"
        return code, text

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    """One smtpd (and messageserver) for the module: each test is its own SMTP session,
    and every session a test opens is closed before the next test starts."""
    with shared_platform(tmp_path_factory.mktemp("abuse"), SMTPD_TIMEOUT="3",
                         SMTPD_MAX_PER_IP="5") as p:
        p.manage("creategroup", "demo", "--owner", "alice@example.org")
        p.start("messageserver", "smtpd")
        yield p


def test_relaying_and_unknown_local_parts_are_refused(smtp):
    t = Transcript(smtp.ports["smtpd"])
    assert t.greeting[0] == 220
    t.send("EHLO client.example", 250)
    t.send("MAIL FROM:<alice@example.org>", 250)
    assert "5.7.1" in t.send("RCPT TO:<victim@example.com>", 550)[1]
    t.send("RCPT TO:<nosuch@groups.localhost>", 250)  # decided at DATA, like hidden groups
    # demo+nonsense would be a subgroup of demo: decided at DATA too; a malformed one not
    t.send("RCPT TO:<demo+nonsense@groups.localhost>", 250)
    assert "5.1.1" in t.send("RCPT TO:<demo+approve@groups.localhost>", 550)[1]
    t.send("RCPT TO:<demo@groups.localhost>", 250)
    t.close()


def test_too_many_recipients(smtp):
    t = Transcript(smtp.ports["smtpd"])
    t.send("EHLO client.example", 250)
    t.send("MAIL FROM:<alice@example.org>", 250)
    for _ in range(50):
        t.send("RCPT TO:<demo@groups.localhost>", 250)
    assert "4.5.3" in t.send("RCPT TO:<demo@groups.localhost>", 452)[1]
    t.close()


def test_commands_out_of_order(smtp):
    t = Transcript(smtp.ports["smtpd"])
    t.send("DATA", 503)
    t.send("EHLO client.example", 250)
    t.send("RCPT TO:<demo@groups.localhost>", 503)
    t.send("DATA", 503)
    t.send("NOT-A-COMMAND", 500)
    t.send("QUIT", 221)
    t.close()


def test_over_long_command_line(smtp):
    t = Transcript(smtp.ports["smtpd"])
    t.send("EHLO client.example", 250)
    code, _ = t.send("MAIL FROM:<" + "a" * 2000 + "@example.org>")
    assert code == 500
    t.close()


def test_oversized_message_gets_552(smtp):
    t = Transcript(smtp.ports["smtpd"])
    code, text = t.send("EHLO client.example", 250)
    limit = int(next(line.split()[1] for line in text.splitlines()
                     if line[4:].startswith("SIZE")))
    t.send(f"MAIL FROM:<alice@example.org> SIZE={limit + 1}", 552)
    t.close()


def test_bare_lf_cannot_smuggle_a_second_message(smtp):
    """SMTP smuggling: '\\n.\\n' inside DATA must not end the message early."""
    t = Transcript(smtp.ports["smtpd"])
    t.send("EHLO client.example", 250)
    t.send("MAIL FROM:<alice@example.org>", 250)
    t.send("RCPT TO:<demo@groups.localhost>", 250)
    t.send("DATA", 354)
    payload = (b"From: alice@example.org\r\nSubject: outer\r\n\r\nbody\n.\n"
               b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@groups.localhost>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
    t.sock.sendall(payload)
    code, _ = t.reply()
    assert code in (250, 550)  # one message, decided as a whole
    # nothing left in the pipe: the smuggled commands were message text
    t.sock.settimeout(1)
    with pytest.raises(socket.timeout):
        t.sock.recv(1)
    t.close()


def test_a_slow_acceptance_is_not_an_idle_client(smtp):
    """SMTPD_TIMEOUT (3 s here) times the client's silence, not messageserver's work.

    The database is held locked for longer than the timeout while the post is
    accepted, as a busy database would be: the client gets its 250 when the lock
    goes, not a 421 "idle" while it waits for our answer.
    """
    if smtp.pg_db:
        pytest.skip("holds SQLite's write lock; the PostgreSQL pass doesn't run this module")
    import sqlite3
    import threading

    database = next((smtp.root / "data").glob("*.sqlite3"))
    t = Transcript(smtp.ports["smtpd"], timeout=30)
    t.send("EHLO client.example", 250)
    t.send("MAIL FROM:<alice@example.org>", 250)
    t.send("RCPT TO:<demo@groups.localhost>", 250)
    t.send("DATA", 354)
    lock = sqlite3.connect(database, timeout=30, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")  # the writer's lock messageserver's acceptance needs
    released = threading.Event()

    def release() -> None:
        time.sleep(5)
        lock.execute("ROLLBACK")
        released.set()

    threading.Thread(target=release, daemon=True).start()
    try:
        code, text = t.send(b"From: alice@example.org\r\nSubject: slow day\r\n\r\n"
                            b"The database is busy.\r\n.\r\n")
        assert released.is_set(), "the reply came before the database was free"
        assert code == 250, text
        t.send("QUIT", 221)
    finally:
        released.wait(10)
        lock.close()
        t.close()


def test_eight_bit_data_without_8bitmime_is_handled(smtp):
    t = Transcript(smtp.ports["smtpd"])
    t.send("HELO client.example", 250)
    t.send("MAIL FROM:<alice@example.org>", 250)
    t.send("RCPT TO:<demo@groups.localhost>", 250)
    t.send("DATA", 354)
    t.sock.sendall("From: alice@example.org\r\nSubject: caf\u00e9\r\n\r\nna\u00efve \u00e9t\u00e9\r\n.\r\n"
                   .encode("utf-8"))
    code, _ = t.reply()
    assert code == 250  # alice owns the group: archived, not crashed
    t.close()


def test_a_stalled_client_is_timed_out(smtp):
    t = Transcript(smtp.ports["smtpd"], timeout=15)
    t.send("EHLO client.example", 250)
    start = time.monotonic()
    code, _ = t.reply()  # say nothing: the server must give up on us
    assert code == 421 and time.monotonic() - start < 12
    t.close()


def test_a_flood_of_connections_is_limited_per_address(smtp):
    held = [Transcript(smtp.ports["smtpd"]) for _ in range(5)]
    assert all(t.greeting[0] == 220 for t in held)
    extra = socket.create_connection(("127.0.0.1", smtp.ports["smtpd"]), timeout=5)
    assert extra.recv(200).startswith(b"421")
    extra.close()
    held[0].close()
    time.sleep(0.3)
    again = Transcript(smtp.ports["smtpd"])
    assert again.greeting[0] == 220
    for t in [again, *held[1:]]:
        t.close()
