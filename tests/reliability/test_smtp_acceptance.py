"""What smtpd must refuse during the transaction, and the null sender, over a real socket.

#15 items 3, 7, 8, 9, 10, 13: each refusal is permanent (5xx with an enhanced
status code and the reason) so the sender stops, never 451 (retried for days)
nor 250 followed by a silent failure.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import mail
from tests.messageserver.test_acceptance import many_attached_messages, nested_multipart
from tests.reliability.conftest import query, shared_platform
from tests.reliability.test_smtp_abuse import Transcript

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    """One smtpd (and messageserver) for the module. Each test counts what its own
    sessions added (``before``), so no test depends on another's posts."""
    with shared_platform(tmp_path_factory.mktemp("acceptance")) as p:
        p.manage("creategroup", "demo", "--owner", "alice@example.org")
        p.start("messageserver", "smtpd")
        yield p


def _totals(platform) -> dict[str, int]:
    """Archived messages and queued notices, read from the platform's own database."""
    payloads = [json.loads(v) if isinstance(v, str) else v
                for (v,) in query(platform, "select payload from groups_outboxitem")]
    return {"posts": query(platform, "select count(*) from groups_message")[0][0],
            "notices": sum(1 for o in payloads if o.get("meta", {}).get("kind") == "notice")}


@pytest.fixture
def before(smtp) -> dict[str, int]:
    """The totals as this test starts."""
    return _totals(smtp)


def _counts(platform, before: dict[str, int]) -> dict[str, int]:
    """What was archived and queued since ``before``."""
    return {k: v - before[k] for k, v in _totals(platform).items()}


def _send(t: Transcript, mail_from: str, rcpts: list[str], data: bytes) -> tuple[int, str]:
    t.send("EHLO client.example", 250)
    t.send(f"MAIL FROM:{mail_from}", 250)
    for rcpt in rcpts:
        t.send(f"RCPT TO:<{rcpt}>", 250)
    t.send("DATA", 354)
    body = data.replace(b"\r\n.", b"\r\n..")
    t.sock.sendall(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    return t.reply()


def test_null_sender_mail_is_never_posted_nor_answered(smtp, before):
    smtp.manage("addmembers", "demo", "dora@example.org")
    t = Transcript(smtp.ports["smtpd"])
    code, text = _send(t, "<>", ["demo@groups.localhost"], mail("null_sender_autoreply.eml"))
    assert code == 250 and "empty envelope sender" in text
    # A robot's mail (no Auto-Submitted: only the null reverse-path says so) to the
    # command addresses: never answered, or two robots could talk forever.
    for command in ("help", "subscribe"):
        t.send("RSET", 250)
        raw = mail("null_sender_help.eml").replace(b"demo+help@", f"demo+{command}@".encode())
        code, text = _send(t, "<>", [f"demo+{command}@groups.localhost"], raw)
        assert code == 250 and "empty envelope sender" in text, text
    t.close()
    assert _counts(smtp, before) == {"posts": 0, "notices": 0}


@pytest.mark.parametrize("data, reply", [
    (b"", "554 5.6.0"),
    (mail("member_post.eml").replace(b"first post", b"first\x00post"), "554 5.6.0"),
    (nested_multipart(1000), "554 5.6.0"),
    (many_attached_messages(5000), "552 5.3.4"),
])
def test_unacceptable_messages_get_a_permanent_refusal(smtp, before, data, reply):
    t = Transcript(smtp.ports["smtpd"])
    code, text = _send(t, "<alice@example.org>", ["demo@groups.localhost"], data)
    assert text.startswith(reply), text
    t.close()
    assert _counts(smtp, before)["posts"] == 0


def test_oversized_data_gets_552_with_enhanced_code(smtp):
    t = Transcript(smtp.ports["smtpd"])
    code, text = t.send("EHLO client.example", 250)
    limit = int(next(line.split()[1] for line in text.splitlines()
                     if line[4:].startswith("SIZE")))
    assert t.send(f"MAIL FROM:<alice@example.org> SIZE={limit + 1}", 552)[1].startswith(
        "552 5.3.4")
    t.send("MAIL FROM:<alice@example.org>", 250)
    t.send("RCPT TO:<demo@groups.localhost>", 250)
    t.send("DATA", 354)
    line = b"x" * 998 + b"\r\n"
    t.sock.sendall(b"Subject: big\r\n\r\n" + line * (limit // len(line) + 2) + b".\r\n")
    code, text = t.reply()
    assert code == 552 and text.startswith("552 5.3.4"), text
    t.close()


def test_repeated_recipients_are_one_post(smtp, before):
    t = Transcript(smtp.ports["smtpd"])
    raw = mail("member_post.eml").replace(b"Bob Member <bob@example.org>",
                                          b"alice@example.org")
    raw = raw.replace(b"Message-ID: <first-post@example.org>\r\n", b"")
    code, _ = _send(t, "<alice@example.org>",
                    ["demo@groups.localhost", "DEMO@groups.localhost"] * 20, raw)
    assert code == 250
    t.close()
    assert _counts(smtp, before)["posts"] == 1
