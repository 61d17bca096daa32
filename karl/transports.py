"""Where copies go: an SMTP relay, direct MX delivery, or a Maildir.

Every transport has one method, ``send(items)``, taking (key, mail_from, rcpt,
data) tuples and returning one ``Result`` per item: the SMTP reply, or a
connection-level error. Transports keep their connections open between calls
(per relay or MX address, at most ``connections`` each), so a fan-out reuses a
few connections and pipelines over them.

A relay URL may carry credentials (``smtp://user:pass@host:port``); they must
never be shown, so everything that names a relay (health, metrics, logs, the
spool) uses ``RelayURL.name``, the URL without them, and config.py keeps the
credentials aside under that name.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import dns.asyncresolver

from karl.mxroute import Route, find_route
from karl.smtpclient import Reply, SMTPConnection, SMTPConnectionError
from platformcore.dnsresolver import Nameserver, make_resolver

if TYPE_CHECKING:
    from karl.config import KarlConfig

Item = tuple[int, str, str, bytes]  # key, mail_from, rcpt, data
T = TypeVar("T")


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

    async def run(self, action: Callable[[SMTPConnection], Awaitable[T]]) -> T:
        """``action`` on an open connection of this pool (at most ``size`` at once).

        A reused connection that fails before any reply (``exc.results`` empty:
        the server had timed it out while idle) is replaced once, fresh; any
        other failure is raised with its connection closed. The connection goes
        back to the pool unless it broke.
        """
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            fresh = conn is None
            try:
                if conn is None:
                    conn = self.factory()
                    await conn.connect()
                try:
                    result = await action(conn)
                except SMTPConnectionError as exc:
                    if fresh or exc.results:
                        raise
                    conn.close()
                    conn = self.factory()
                    await conn.connect()
                    result = await action(conn)
            except SMTPConnectionError:
                if conn is not None:
                    conn.close()
                raise
            if conn.broken:
                conn.close()
            else:
                self.idle.append(conn)
            return result

    async def send(self, items: Sequence[Item]) -> list[Result]:
        """Single copies over one connection, pipelined; a Result per item, in order."""
        if not items:
            return []
        messages = [(f, r, d) for _, f, r, d in items]
        try:
            replies = await self.run(lambda conn: conn.send_many(messages))
        except SMTPConnectionError as exc:
            done = [Result(item[0], reply) for item, reply in zip(items, exc.results,
                                                                 strict=False)]
            return done + [Result(item[0], None, str(exc)) for item in items[len(exc.results):]]
        return [Result(item[0], reply) for item, reply in zip(items, replies, strict=True)]

    async def close(self) -> None:
        while self.idle:
            await self.idle.pop().quit()


def _chunks(items: Sequence[Item], n: int) -> list[Sequence[Item]]:
    n = max(1, min(n, len(items)))
    size = -(-len(items) // n)
    return [items[i:i + size] for i in range(0, len(items), size)]


STARTTLS_MODES = ("opportunistic", "required", "off")
_VERIFY = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


@dataclass(frozen=True)
class RelayURL:
    """``smtp://[user:pass@]host[:port][?starttls=required|opportunistic|off&verify=no]``.

    ``smtps://`` is implicit TLS (port 465 by default). ``name`` is the URL
    without its credentials: the only form of it that may be shown.
    """

    name: str
    host: str
    port: int
    implicit_tls: bool
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    starttls: str | None = None  # None: KARL_SMTP_STARTTLS decides
    verify: bool = True


def parse_relay_url(url: str) -> RelayURL:
    """The relay ``url``, strictly: a typo is a ValueError naming the relay (never its password)."""
    parts = urlsplit(url.strip())
    hostport = parts.netloc.rpartition("@")[2]
    name = f"{parts.scheme}://{hostport}" + (f"?{parts.query}" if parts.query else "")
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"relay {name!r} is neither smtp:// nor smtps://")
    if not parts.hostname:
        raise ValueError(f"relay {name!r} has no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"relay {name!r}: a relay URL has no path")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and hostport.endswith(":")):
        raise ValueError(f"relay {name!r}: the port is not a number from 1 to 65535")
    implicit = parts.scheme == "smtps"
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"relay {name!r}: cannot read the options after '?'") from None
    unknown = set(query) - {"starttls", "verify"}
    if unknown:
        raise ValueError(f"relay {name!r}: unknown option {sorted(unknown)[0]!r} "
                         "(known: starttls, verify)")
    starttls = query["starttls"][-1].lower() if "starttls" in query else None
    if starttls is not None and (implicit or starttls not in STARTTLS_MODES):
        raise ValueError(f"relay {name!r}: starttls must be one of {', '.join(STARTTLS_MODES)}"
                         + (" and makes no sense with smtps://" if implicit else ""))
    verify = query["verify"][-1].lower() if "verify" in query else "yes"
    if verify not in _VERIFY:
        raise ValueError(f"relay {name!r}: verify must be yes or no")
    return RelayURL(name, parts.hostname, port or (465 if implicit else 25), implicit,
                    unquote(parts.username or ""), unquote(parts.password or ""),
                    starttls, _VERIFY[verify])


class SMTPRelay:
    """A relay named by a ``RelayURL``; credentials in the URL win over ``username``."""

    def __init__(self, url: str, *, connections: int = 8, timeout: float = 60.0,
                 helo: str = "localhost", starttls: str = "opportunistic",
                 username: str = "", password: str = "") -> None:
        relay = parse_relay_url(url)
        self.name = relay.name
        user, secret = (relay.username, relay.password) if relay.username else (
            username, password)
        mode = relay.starttls or starttls
        self.connections = connections
        self.pool = _HostPool(lambda: SMTPConnection(
            relay.host, relay.port, timeout=timeout, helo=helo, starttls=mode,
            implicit_tls=relay.implicit_tls, username=user, password=secret,
            verify_tls=relay.verify), connections)

    async def send(self, items: Sequence[Item]) -> list[Result]:
        parts = await asyncio.gather(*(self.pool.send(c) for c in _chunks(
            items, min(self.connections, max(1, len(items) // 8)))))
        return [r for part in parts for r in part]

    async def close(self) -> None:
        await self.pool.close()


class MXTransport:
    """Direct delivery to each recipient domain's MX hosts (routes: mxroute.py).

    A host that does not answer is no fault of the transport: its recipients
    go to the next MX, and when none answers they are deferred with a 451
    naming every host tried, so one dead domain never marks ``mx`` unhealthy.
    A host that failed is tried last for ``DOWN_SECONDS``, so a black-holed
    primary MX costs one timeout, not one per batch. TLS is opportunistic and
    unverified (KARL_SMTP_STARTTLS=required or off still applies): without
    DANE or MTA-STS there is no name to verify an MX's certificate against.
    """

    name = "mx"
    DOWN_SECONDS = 60.0
    DNS_TIMEOUT = 20.0

    def __init__(self, *, connections: int = 4, timeout: float = 60.0,
                 helo: str = "localhost", port: int = 25, starttls: str = "opportunistic",
                 nameserver: Nameserver | None = None) -> None:
        self.connections, self.timeout, self.helo, self.port = connections, timeout, helo, port
        self.starttls = starttls
        self.resolver = make_resolver(nameserver, min(timeout, self.DNS_TIMEOUT),
                                      cls=dns.asyncresolver.Resolver)
        self.pools: dict[str, _HostPool] = {}  # by address
        self._routes: dict[str, tuple[float, Route]] = {}
        self._lookups: dict[str, asyncio.Future[Route]] = {}
        self._down: dict[str, float] = {}  # address: tried last until then

    async def route(self, domain: str) -> Route:
        """The domain's route, from the cache or from one lookup shared by concurrent callers."""
        cached = self._routes.get(domain)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        pending = self._lookups.get(domain)
        if pending is None:
            pending = self._lookups[domain] = asyncio.ensure_future(self._look_up(domain))
            pending.add_done_callback(lambda _: self._lookups.pop(domain, None))
        return await asyncio.shield(pending)

    async def _look_up(self, domain: str) -> Route:
        route = await find_route(self.resolver, domain)
        if route.ttl > 0:
            now = time.monotonic()
            if len(self._routes) > 10_000:
                self._routes = {d: c for d, c in self._routes.items() if c[0] > now}
            self._routes[domain] = (now + route.ttl, route)
        return route

    def _pool(self, address: str) -> _HostPool:
        pool = self.pools.get(address)
        if pool is None:
            pool = self.pools[address] = _HostPool(lambda: SMTPConnection(
                address, self.port, timeout=self.timeout, helo=self.helo,
                starttls=self.starttls, verify_tls=False), self.connections)
        return pool

    async def _send_domain(self, domain: str, items: Sequence[Item]) -> list[Result]:
        route = await self.route(domain)
        if not route.targets:
            return [Result(i[0], Reply(route.code, route.reason)) for i in items]
        now = time.monotonic()
        targets = sorted(route.targets, key=lambda t: self._down.get(t[1], 0.0) > now)
        answered: list[Result] = []
        tried: list[str] = []
        for host, address in targets:
            results = await self._pool(address).send(items)
            answered += [r for r in results if not r.relay_failed]
            failed = {r.key: r for r in results if r.relay_failed}
            if len(failed) == len(results):
                self._down[address] = time.monotonic() + self.DOWN_SECONDS
            else:
                self._down.pop(address, None)
            if not failed:
                return answered
            first = next(iter(failed.values()))
            tried.append(f"{host}: {first.error}" if first.error
                         else f"{host} [{address}]:{self.port}: {first.reply}")
            items = [i for i in items if i[0] in failed]
        reason = f"4.4.1 no MX host of {domain} took the message: {'; '.join(tried)}"
        return answered + [Result(i[0], Reply(451, reason)) for i in items]

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


def make_transport(spec: str, config: KarlConfig) -> Transport:
    """The transport for one KARL_RELAYS entry, with Karl's settings."""
    c = config
    if spec.startswith(("smtp://", "smtps://")):
        username, password = c.relay_credentials.get(spec, (c.smtp_username, c.smtp_password))
        return SMTPRelay(spec, connections=c.connections_per_host, timeout=c.smtp_timeout,
                         helo=c.helo_name, starttls=c.smtp_starttls, username=username,
                         password=password)
    if spec.startswith("maildir:"):
        return MaildirTransport(spec[len("maildir:"):])
    if spec == "mx":
        return MXTransport(connections=max(1, c.connections_per_host // 2),
                           timeout=c.smtp_timeout, helo=c.helo_name, port=c.mx_port,
                           starttls=c.smtp_starttls, nameserver=c.dns_nameserver)
    raise ValueError(f"unknown relay {spec!r}: use smtp://host:port, maildir:PATH or mx")
