"""A small SMTP client that pipelines (RFC 2920) many messages over one connection.

Why not aiosmtplib: it waits for every reply before the next command (four
round trips a message) and its protocol drops replies that arrive before they
are awaited, so it cannot pipeline. Here a message costs one round trip: the
previous message's content, its final dot, and the next MAIL/RCPT/DATA go in
one write. STARTTLS (opportunistic or required), implicit TLS and AUTH
PLAIN/LOGIN are supported; SIZE and 8BITMIME are used when offered. A copy
with 8-bit header fields goes with SMTPUTF8 (RFC 6531) where the server offers
it, and as its RFC 2047 twin (``Copy.seven_bit``) where it does not.

This module knows SMTP only: it returns (code, reply) per message and raises
``SMTPConnectionError`` when the connection fails; what a code means for a
recipient is decided in delivery.py.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Sequence
from dataclasses import dataclass


class SMTPConnectionError(Exception):
    """The connection could not be made or broke; ``sent`` results came before it."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.results: list[Reply] = []  # replies for the messages sent before the failure


@dataclass
class Reply:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


def dot_stuff(data: bytes) -> bytes:
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class SMTPConnection:
    """One open, greeted connection to an SMTP server."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0, helo: str = "localhost",
                 starttls: str = "opportunistic", implicit_tls: bool = False,
                 username: str = "", password: str = "", verify_tls: bool = True) -> None:
        self.host, self.port, self.timeout, self.helo = host, port, timeout, helo
        self.starttls, self.implicit_tls = starttls, implicit_tls
        self.username, self.password, self.verify_tls = username, password, verify_tls
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.extensions: dict[str, str] = {}
        self.broken = False

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def connect(self) -> None:
        try:
            self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(
                self.host, self.port, ssl=self._tls_context() if self.implicit_tls else None,
                server_hostname=self.host if self.implicit_tls else None), self.timeout)
            greeting = await self._reply()
            if greeting.code != 220:
                raise SMTPConnectionError(f"greeting {greeting}", greeting.code)
            await self._ehlo()
            if self.starttls != "off" and not self.implicit_tls:
                if "starttls" in self.extensions:
                    reply = await self.command(b"STARTTLS")
                    if reply.code != 220:
                        raise SMTPConnectionError(f"STARTTLS refused: {reply}", reply.code)
                    await self.writer.start_tls(self._tls_context(), server_hostname=self.host)
                    await self._ehlo()
                elif self.starttls == "required":
                    raise SMTPConnectionError("server does not offer STARTTLS")
            if self.username:
                await self._auth()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self.close()
            raise SMTPConnectionError(f"cannot connect to {self.host}:{self.port}: "
                                      f"{type(exc).__name__}: {exc}") from None
        except SMTPConnectionError:
            self.close()
            raise

    async def _ehlo(self) -> None:
        reply = await self.command(b"EHLO " + self.helo.encode())
        if reply.code != 250:
            reply = await self.command(b"HELO " + self.helo.encode())
            if reply.code != 250:
                raise SMTPConnectionError(f"HELO refused: {reply}", reply.code)
            self.extensions = {}
            return
        self.extensions = {}
        for line in reply.text.splitlines()[1:]:
            key, _, value = line.strip().partition(" ")
            self.extensions[key.lower()] = value

    async def _auth(self) -> None:
        methods = self.extensions.get("auth", "").upper().split()
        if not methods:  # never hand a password to a server that did not ask for one
            raise SMTPConnectionError("server does not offer AUTH")
        if "PLAIN" in methods:
            token = base64.b64encode(f"\0{self.username}\0{self.password}".encode()).decode()
            reply = await self.command(f"AUTH PLAIN {token}".encode())
        else:
            reply = await self.command(b"AUTH LOGIN")
            if reply.code == 334:
                reply = await self.command(base64.b64encode(self.username.encode()))
            if reply.code == 334:
                reply = await self.command(base64.b64encode(self.password.encode()))
        if reply.code != 235:
            raise SMTPConnectionError(f"authentication failed: {reply}", reply.code)

    async def _reply(self) -> Reply:
        async with asyncio.timeout(self.timeout):
            return await self._read_reply()

    async def _replies(self, count: int) -> list[Reply]:
        """``count`` pipelined replies under one timeout (a timer per reply costs CPU)."""
        async with asyncio.timeout(self.timeout):
            return [await self._read_reply() for _ in range(count)]

    async def _read_reply(self) -> Reply:
        assert self.reader is not None
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                self.broken = True
                raise SMTPConnectionError("connection closed by the server")
            lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] != b"-":
                try:
                    code = int(line[:3])
                except ValueError:
                    self.broken = True
                    raise SMTPConnectionError(f"malformed reply {line[:80]!r}") from None
                return Reply(code, "\n".join(lines))

    async def command(self, line: bytes) -> Reply:
        assert self.writer is not None
        self.writer.write(line + b"\r\n")
        await self.writer.drain()
        return await self._reply()

    def choose(self, mail_from: str, rcpt: str, data: bytes) -> tuple[bytes, bool]:
        """The form of a copy this server takes, and whether it goes with SMTPUTF8.

        Headers that are all ASCII go as they are. 8-bit headers (a raw UTF-8
        display name, say) need SMTPUTF8: where it is offered it is used, else
        the copy's RFC 2047 twin goes instead (a strict server would refuse or
        mangle raw 8-bit headers without it).
        """
        end = data.find(b"\r\n\r\n")
        head = data if end < 0 else data[:end]
        eight_bit = not head.isascii() or not (mail_from + rcpt).isascii()
        if not eight_bit:
            return data, False
        if "smtputf8" in self.extensions:
            return data, True
        seven = getattr(data, "seven_bit", None)
        return (seven, False) if seven is not None else (data, False)

    def mail_command(self, mail_from: str, size: int, eight_bit: bool,
                     utf8: bool = False) -> bytes:
        """``MAIL FROM:<...>`` with the parameters this server offers (no line end)."""
        params = ""
        if "size" in self.extensions:
            params += f" SIZE={size}"
        if eight_bit and "8bitmime" in self.extensions:
            params += " BODY=8BITMIME"
        if utf8:
            params += " SMTPUTF8"
        return f"MAIL FROM:<{mail_from}>{params}".encode()

    def _envelope(self, mail_from: str, rcpt: str, size: int, eight_bit: bool,
                  utf8: bool = False) -> bytes:
        return (self.mail_command(mail_from, size, eight_bit, utf8)
                + f"\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())

    async def send_many(self, messages: Sequence[tuple[str, str, bytes]]) -> list[Reply]:
        """Send (mail_from, rcpt, data) messages; one Reply per message, in order.

        Raises SMTPConnectionError when the connection fails; the replies got so
        far are in ``exc.results``.
        """
        assert self.writer is not None
        pipelining = "pipelining" in self.extensions
        results: list[Reply] = []
        try:
            pending = b""
            for mail_from, rcpt, copy in messages:
                data, utf8 = self.choose(mail_from, rcpt, copy)
                stuffed = dot_stuff(data)
                envelope = self._envelope(mail_from, rcpt, len(stuffed), not data.isascii(),
                                          utf8)
                replies: list[Reply] = []
                if pipelining:
                    self.writer.write(pending + envelope)
                    replies = await self._replies(4 if pending else 3)
                    if pending:
                        results.append(self._check_421(replies.pop(0)))
                    pending = b""
                else:
                    if pending:
                        self.writer.write(pending)
                        results.append(self._check_421(await self._reply()))
                        pending = b""
                    for line in envelope.split(b"\r\n")[:3]:
                        replies.append(await self.command(line))
                        if replies[-1].code >= 400:
                            break
                failed = next((r for r in replies if r.code >= 400), None)
                if failed is None and len(replies) == 3 and replies[2].code == 354:
                    pending = stuffed + b".\r\n"
                    continue
                if len(replies) == 3 and replies[2].code == 354:
                    await self.command(b".")  # DATA was accepted despite a refusal: end it empty
                results.append(self._check_421(failed or replies[-1]))
                self._check_421(await self.command(b"RSET"))
                for reply in replies:
                    self._check_421(reply)
            if pending:
                self.writer.write(pending)
                results.append(await self._reply())
            await self.writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            self.broken = True
            error = SMTPConnectionError(f"{type(exc).__name__}: {exc}", None)
            error.results = results
            raise error from None
        except SMTPConnectionError as exc:
            self.broken = True
            exc.results = results
            raise
        return results

    def _check_421(self, reply: Reply) -> Reply:
        if reply.code == 421:
            raise SMTPConnectionError(f"server closing the connection: {reply}", 421)
        return reply

    async def quit(self) -> None:
        if self.writer is not None and not self.broken:
            try:
                self.writer.write(b"QUIT\r\n")
                await asyncio.wait_for(self.writer.drain(), 5)
            except (TimeoutError, OSError):
                pass
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = self.reader = None
        self.broken = True
