"""One bulk SMTP transaction: one copy to up to 100 recipients of one domain.

The answer is a ``TxnResult`` (karl.bulkrecords): the reply that decides
every recipient, and the RCPT refusals by position, so a transaction of 100
accepted recipients costs no per-recipient object at all. With PIPELINING
(every server that matters offers it) MAIL, every RCPT and DATA go in one
write and their replies are read in one go (a read per reply line costs more
than the line); without it, command by command.

Used by both bulk layouts: transaction records (karl.scheduler's bulk branch)
and the per-recipient records of bulk jobs spooled before them (karl.bulk).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence

from karl.bulkrecords import TxnResult, domain_of
from karl.smtpclient import Reply, SMTPConnection, SMTPConnectionError, dot_stuff
from karl.transports import MXTransport, SMTPRelay, Transport, _HostPool

_STUFFED: dict[int, tuple[bytes, bytes]] = {}  # id(copy) -> (copy, dot-stuffed), a few jobs'


def stuffed(data: bytes) -> bytes:
    """``dot_stuff(data)``, done once per copy (a bulk copy goes in many transactions)."""
    known = _STUFFED.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    out = dot_stuff(data)
    if len(_STUFFED) > 32:
        _STUFFED.clear()
    _STUFFED[id(data)] = (data, out)
    return out


_BARE: dict[int, Reply] = {}  # code -> a Reply without text, shared (never changed)
_OK_RUN = re.compile(rb"(?:250 [^\n]*\n)*")


async def _read_replies(conn: SMTPConnection, count: int) -> list[Reply]:
    """``count`` pipelined replies, read in as few reads as the socket allows.

    Only what is read is kept: a reply's text where it can matter (a refusal,
    the last reply), a shared bare Reply for the 250s of a hundred RCPTs.
    Anything past ``count`` would be a server speaking out of turn: the
    connection is marked broken (not reused) rather than left out of step.
    """
    assert conn.reader is not None
    replies: list[Reply] = []
    text: list[str] = []
    rest = b""
    last = count - 1
    while len(replies) < count:  # under the transaction's one timeout (``transact``)
        chunk = await conn.reader.read(65536)
        if not chunk:
            conn.broken = True
            raise SMTPConnectionError("connection closed by the server")
        data = rest + chunk if rest else chunk
        # a run of plain "250 ..." lines (RCPTs taken) in one C call, never the last wanted
        ok = _OK_RUN.match(data) if not text else None
        run = min(ok.group().count(b"\n"), last - len(replies)) if ok else 0
        if run > 0:
            replies.extend([_BARE.get(250) or _BARE.setdefault(250, Reply(250, ""))] * run)
            skip = ok.end() if run == ok.group().count(b"\n") else 0
            for _ in range(run if not skip else 0):  # the run went past the last wanted
                skip = data.index(b"\n", skip) + 1
            data = data[skip:]
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if len(replies) == count:
                conn.broken = True  # more than was asked for
                break
            if line[3:4] == b"-":
                text.append(line[4:].strip().decode("utf-8", "replace"))
                continue
            try:
                code = int(line[:3])
            except ValueError:
                conn.broken = True
                raise SMTPConnectionError(f"malformed reply {line[:80]!r}") from None
            if code < 300 and not text and len(replies) != last:
                reply = _BARE.get(code) or _BARE.setdefault(code, Reply(code, ""))
            else:
                text.append(line[4:].strip().decode("utf-8", "replace"))
                reply = conn._check_421(Reply(code, "\n".join(text)))
                text = []
            replies.append(reply)
    if rest:
        conn.broken = True
    return replies


async def _decide(conn: SMTPConnection, got: list[Reply], count: int,
                  content: bytes) -> TxnResult:
    """After the replies to MAIL, the ``count`` RCPTs and DATA: send the content, or not."""
    assert conn.writer is not None
    mail_reply, rcpt_replies = got[0], got[1:1 + count]
    data_reply = got[1 + count] if len(got) > 1 + count else None
    refused = {n: r for n, r in enumerate(rcpt_replies) if r.code >= 300}
    if mail_reply.code >= 400 or len(refused) == len(rcpt_replies) \
            or data_reply is None or data_reply.code != 354:
        if data_reply is not None and data_reply.code == 354:
            conn._check_421(await conn.command(b"."))  # a server that took DATA anyway
        conn._check_421(await conn.command(b"RSET"))
        if mail_reply.code >= 400:
            return TxnResult(mail_reply)
        return TxnResult(data_reply or Reply(554, "5.5.1 no recipient was taken"), refused)
    conn.writer.write(content + b".\r\n")
    [final] = await _read_replies(conn, 1)
    return TxnResult(final, refused)


async def transact(conn: SMTPConnection, mail_from: str, rcpts: Sequence[str],
                   data: bytes) -> TxnResult:
    """One transaction to many recipients (module docstring).

    A refused RCPT answers for its recipient; the reply to the data answers for
    the recipients the server took. Raises SMTPConnectionError when the
    connection fails (its ``results`` hold the MAIL reply once one was read, so
    a caller knows a fresh connection may be tried only when it is empty).
    """
    assert conn.writer is not None
    body, utf8 = conn.choose(mail_from, "".join(rcpts), data)
    content = stuffed(body)
    mail = conn.mail_command(mail_from, len(content), not body.isascii(), utf8)
    got: list[Reply] = []
    try:
        if "pipelining" in conn.extensions:
            async with asyncio.timeout(conn.timeout):  # one timer for the whole transaction
                conn.writer.write(b"%s\r\nRCPT TO:<%s>\r\nDATA\r\n" % (
                    mail, ">\r\nRCPT TO:<".join(rcpts).encode()))
                got.extend(await _read_replies(conn, len(rcpts) + 2))
                return await _decide(conn, got, len(rcpts), content)
        for line in [mail, *(f"RCPT TO:<{a}>".encode() for a in rcpts), b"DATA"]:
            if line == b"DATA" and not any(r.code < 300 for r in got[1:]):
                break  # nobody was taken: no DATA
            got.append(conn._check_421(await conn.command(line)))
            if len(got) == 1 and got[0].code >= 400:
                break
        async with asyncio.timeout(conn.timeout):
            return await _decide(conn, got, len(rcpts), content)
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
        conn.broken = True
        error = SMTPConnectionError(f"{type(exc).__name__}: {exc}", None)
        error.results = got[:1]
        raise error from None
    except SMTPConnectionError as exc:
        conn.broken = True
        exc.results = got[:1]
        raise


async def on_pool(pool: _HostPool, mail_from: str, rcpts: Sequence[str],
                  data: bytes) -> TxnResult:
    """One transaction over a connection of ``pool`` (``_HostPool.run``: a stale one replaced)."""
    try:
        return await pool.run(lambda conn: transact(conn, mail_from, rcpts, data))
    except SMTPConnectionError as exc:
        return TxnResult(None, error=str(exc))


async def via_mx(transport: MXTransport, domain: str, mail_from: str, rcpts: Sequence[str],
                 data: bytes) -> TxnResult:
    """The domain's MX hosts in order, as MXTransport does for single copies."""
    route = await transport.route(domain)
    if not route.targets:
        return TxnResult(Reply(route.code, route.reason))
    now = time.monotonic()
    down = transport._down
    tried: list[str] = []
    for host, address in sorted(route.targets, key=lambda t: down.get(t[1], 0.0) > now):
        result = await on_pool(transport._pool(address), mail_from, rcpts, data)
        if not result.relay_failed:
            down.pop(address, None)
            return result
        down[address] = time.monotonic() + transport.DOWN_SECONDS
        tried.append(f"{host} [{address}]: {result.error or result.reply}")
    return TxnResult(Reply(451, f"4.4.1 no MX host of {domain} took the message: "
                                f"{'; '.join(tried)}"))


async def send(transport: Transport, mail_from: str, rcpts: Sequence[str],
               data: bytes) -> TxnResult:
    """Deliver one copy to recipients of one domain: one transaction where SMTP is spoken."""
    if isinstance(transport, SMTPRelay):
        return await on_pool(transport.pool, mail_from, rcpts, data)
    if isinstance(transport, MXTransport):
        return await via_mx(transport, domain_of(rcpts[0]), mail_from, rcpts, data)
    # a Maildir (development): a file per recipient, the same bytes in each
    results = await transport.send([(n, mail_from, a, data) for n, a in enumerate(rcpts)])
    refused = {r.key: r.reply for r in results if r.reply is not None and r.reply.code >= 300}
    return TxnResult(Reply(250, "2.0.0 delivered"), refused)
