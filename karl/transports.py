"""Where copies go: an SMTP relay, direct MX delivery, or a Maildir.

Every transport has one method, ``send(items)``, taking (key, mail_from, rcpt,
data) tuples and returning one ``Result`` per item: the SMTP reply, or a
connection-level error. Transports keep their connections open between calls
(per relay or MX host, at most ``connections`` each), so a fan-out reuses a
few connections and pipelines over them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from karl.smtpclient import Reply, SMTPConnection, SMTPConnectionError

Item = tuple[int, str, str, bytes]  # key, mail_from, rcpt, data


@dataclass
class Result:
    key: int
    reply: Reply | None  # None: the connection failed before a reply
    error: str = ""

    @property
    def relay_failed(self) -> bool:
        return self.reply is None or self.reply.code == 421


class Transport(Protocol):
    name: str

    async def send(self, items: Sequence[Item]) -> list[Result]: ...

    async def close(self) -> None: ...


class _HostPool:
    """Open connections to one SMTP server, at most ``size`` of them."""

    def __init__(self, factory, size: int) -> None:  # noqa: ANN001
        self.factory, self.size = factory, size
        self.idle: list[SMTPConnection] = []
        self.slots = asyncio.Semaphore(size)

    async def send(self, items: Sequence[Item]) -> list[Result]:
        if not items:
            return []
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            fresh = conn is None
            try:
                if conn is None:
                    conn = self.factory()
                    await conn.connect()
                try:
                    replies = await conn.send_many([(f, r, d) for _, f, r, d in items])
                except SMTPConnectionError as exc:
                    if not fresh and not exc.results:
                        # a reused connection the server had timed out: retry once, fresh
                        conn.close()
                        conn = self.factory()
                        await conn.connect()
                        replies = await conn.send_many([(f, r, d) for _, f, r, d in items])
                    else:
                        raise
            except SMTPConnectionError as exc:
                if conn is not None:
                    conn.close()
                done = [Result(item[0], reply) for item, reply in zip(items, exc.results,
                                                                     strict=False)]
                return done + [Result(item[0], None, str(exc))
                               for item in items[len(exc.results):]]
            self.idle.append(conn)
            return [Result(item[0], reply) for item, reply in zip(items, replies, strict=True)]

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().quit()


def _chunks(items: Sequence[Item], n: int) -> list[Sequence[Item]]:
    n = max(1, min(n, len(items)))
    size = -(-len(items) // n)
    return [items[i:i + size] for i in range(0, len(items), size)]


class SMTPRelay:
    """``smtp://[user:pass@]host:port[?starttls=required|off&verify=no]`` or ``smtps://``."""

    def __init__(self, url: str, *, connections: int = 8, timeout: float = 60.0,
                 helo: str = "localhost", starttls: str = "opportunistic",
                 username: str = "", password: str = "") -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        self.name = f"{parts.scheme}://{parts.hostname}:{parts.port or (465 if implicit else 25)}"
        host, port = parts.hostname or "127.0.0.1", parts.port or (465 if implicit else 25)
        user = unquote(parts.username or "") or username
        secret = unquote(parts.password or "") or password
        mode = query.get("starttls", starttls)
        verify = query.get("verify", "yes") not in ("no", "0", "false")
        self.connections = connections
        self.pool = _HostPool(lambda: SMTPConnection(
            host, port, timeout=timeout, helo=helo, starttls=mode, implicit_tls=implicit,
            username=user, password=secret, verify_tls=verify), connections)

    async def send(self, items: Sequence[Item]) -> list[Result]:
        parts = await asyncio.gather(*(self.pool.send(c) for c in _chunks(
            items, min(self.connections, max(1, len(items) // 8)))))
        return [r for part in parts for r in part]

    async def close(self) -> None:
        await self.pool.close()


class MXTransport:
    """Direct delivery: MX lookup with dnspython, falling back to the domain's A/AAAA."""

    name = "mx"

    def __init__(self, *, connections: int = 4, timeout: float = 60.0,
                 helo: str = "localhost", port: int = 25) -> None:
        self.connections, self.timeout, self.helo, self.port = connections, timeout, helo, port
        self.pools: dict[str, _HostPool] = {}
        self._mx_cache: dict[str, tuple[float, list[str] | str]] = {}

    async def hosts(self, domain: str) -> list[str] | str:
        """MX hosts by preference, or a reason string when the domain takes no mail."""
        cached = self._mx_cache.get(domain)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        import dns.asyncresolver
        import dns.exception
        import dns.resolver

        result: list[str] | str
        try:
            answer = await dns.asyncresolver.resolve(domain, "MX", lifetime=self.timeout)
            records = sorted(answer, key=lambda r: r.preference)
            names = [str(r.exchange).rstrip(".") for r in records]
            result = "5.1.10 null MX: the domain accepts no mail" if names == [""] else names
        except dns.resolver.NXDOMAIN:
            result = "5.1.2 domain does not exist"
        except dns.resolver.NoAnswer:
            result = [domain]
        except dns.exception.DNSException as exc:
            return [f"!{exc}"]
        self._mx_cache[domain] = (time.monotonic() + 300, result)
        return result

    async def _send_domain(self, domain: str, items: Sequence[Item]) -> list[Result]:
        hosts = await self.hosts(domain)
        if isinstance(hosts, str):
            return [Result(i[0], Reply(550, hosts)) for i in items]
        if hosts and hosts[0].startswith("!"):
            return [Result(i[0], None, f"DNS lookup failed: {hosts[0][1:]}") for i in items]
        results: list[Result] = []
        for host in hosts:
            pool = self.pools.get(host)
            if pool is None:
                pool = self.pools[host] = _HostPool(lambda h=host: SMTPConnection(
                    h, self.port, timeout=self.timeout, helo=self.helo,
                    starttls="opportunistic", verify_tls=False), self.connections)
            results = await pool.send(items)
            if all(r.reply is not None for r in results):
                return results
            done = [r for r in results if r.reply is not None]
            keys = {r.key for r in results if r.reply is None}
            items = [i for i in items if i[0] in keys]
            results = done + [r for r in results if r.reply is None]
        return results

    async def send(self, items: Sequence[Item]) -> list[Result]:
        by_domain: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            by_domain[item[2].rpartition("@")[2].lower()].append(item)
        parts = await asyncio.gather(*(self._send_domain(d, i) for d, i in by_domain.items()))
        return [r for part in parts for r in part]

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()


class MaildirTransport:
    """``maildir:PATH``: every copy a file in PATH/new, for development and tests."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.name = f"maildir:{path}"
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._n = 0

    def _write(self, item: Item) -> Result:
        key, mail_from, rcpt, data = item
        self._n += 1
        name = f"{time.time():.6f}.P{os.getpid()}Q{self._n}.{self._host}"
        tmp = self.path / "tmp" / name
        head = f"Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt}\r\n".encode()
        try:
            with open(tmp, "wb") as fh:
                fh.write(head + data)
            os.rename(tmp, self.path / "new" / name)
        except OSError as exc:
            return Result(key, Reply(451, f"4.3.0 maildir write failed: {exc}"))
        return Result(key, Reply(250, f"2.0.0 delivered to {self.path / 'new' / name}"))

    async def send(self, items: Sequence[Item]) -> list[Result]:
        return [self._write(i) for i in items]

    async def close(self) -> None:
        return None


def make_transport(spec: str, *, connections: int = 8, timeout: float = 60.0,
                   helo: str = "localhost", starttls: str = "opportunistic",
                   username: str = "", password: str = "") -> Transport:
    if spec.startswith(("smtp://", "smtps://")):
        return SMTPRelay(spec, connections=connections, timeout=timeout, helo=helo,
                         starttls=starttls, username=username, password=password)
    if spec.startswith("maildir:"):
        return MaildirTransport(spec[len("maildir:"):])
    if spec == "mx":
        return MXTransport(connections=max(1, connections // 2), timeout=timeout, helo=helo)
    raise ValueError(f"unknown relay {spec!r}: use smtp://host:port, maildir:PATH or mx")
