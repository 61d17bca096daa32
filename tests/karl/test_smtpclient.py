"""The pipelining SMTP client against a real aiosmtpd server: replies stay paired with messages."""

from __future__ import annotations

import asyncio

import pytest

from karl.smtpclient import SMTPConnection, SMTPConnectionError
from karl.transports import MaildirTransport, SMTPRelay
from tests.karl.conftest import start_sink


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("pipelining", [True, False])
def test_many_messages_one_connection_replies_in_order(pipelining):
    sink = start_sink(pipelining=pipelining)
    sink.handler.policy = lambda rcpt, n: "550 5.1.1 no such user" if "ghost" in rcpt else (
        "451 4.3.0 later" if "busy" in rcpt else None)
    try:
        async def go():
            conn = SMTPConnection("127.0.0.1", sink.port, helo="groups.localhost")
            await conn.connect()
            assert ("pipelining" in conn.extensions) is pipelining
            rcpts = ["a@example.org", "ghost@example.org", "b@example.org",
                     "busy@example.org", "c@example.org"]
            data = b"Subject: t\r\n\r\n.leading dot\r\nline\r\n"
            replies = await conn.send_many([("bounce@groups.localhost", r, data)
                                            for r in rcpts])
            await conn.quit()
            return rcpts, replies
        rcpts, replies = run(go())
        assert [r.code for r in replies] == [250, 550, 250, 451, 250]
        got = sink.handler.received()
        assert [m.rcpt for m in got] == ["a@example.org", "b@example.org", "c@example.org"]
        assert all(b"\r\n.leading dot\r\n" in m.data for m in got)  # dot-stuffing undone
        assert sink.handler.connections == 1
    finally:
        sink.controller.stop()


def test_refused_connection_is_a_connection_error():
    from tests.conftest import free_port

    async def go():
        await SMTPConnection("127.0.0.1", free_port(), timeout=5).connect()

    with pytest.raises(SMTPConnectionError, match="cannot connect"):
        run(go())


def test_relay_reuses_connections_across_batches():
    sink = start_sink()
    try:
        async def go():
            relay = SMTPRelay(sink.url, connections=2)
            for batch in range(3):
                items = [(i, "b@groups.localhost", f"m{batch}-{i}@example.org",
                          b"Subject: x\r\n\r\nhi\r\n") for i in range(20)]
                results = await relay.send(items)
                assert [r.reply.code for r in results] == [250] * 20
            await relay.close()
        run(go())
        assert len(sink.handler.received()) == 60
        # reused across the three batches: never more than the two allowed, never one a batch
        assert 1 <= sink.handler.connections <= 2
    finally:
        sink.controller.stop()


def test_maildir_transport_writes_one_file_per_copy(tmp_path):
    transport = MaildirTransport(str(tmp_path / "outbox"))
    results = run(transport.send([(0, "b@groups.localhost", "bob@example.org",
                                   b"Subject: x\r\n\r\nhi\r\n")]))
    assert results[0].reply.code == 250
    [path] = (tmp_path / "outbox" / "new").iterdir()
    assert path.read_bytes().startswith(b"Return-Path: <b@groups.localhost>\r\n")
