"""The inbound SMTP daemon: aiosmtpd on SMTPD_PORT, with per-IP connection limits.

    python -m smtpd [--port N]

(Our package shadows the old stdlib ``smtpd`` module, which Python 3.12
removed and this project never uses.)
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections import Counter
from smtpd import metrics, xforward
from smtpd.handler import GroupsHandler
from smtpd.replies import with_enhanced_code
from smtpd.tls import tls_context

from aiohttp import web
from aiosmtpd.smtp import SMTP, syntax
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from platformcore.env import env_int, get_env
from platformcore.internalhttp import token_middleware

log = logging.getLogger("smtpd")


class LimitedSMTP(SMTP):
    """aiosmtpd's SMTP with a cap on simultaneous sessions per client address."""

    per_ip: Counter[str] = Counter()
    max_per_ip = 20
    xforward_hosts: frozenset = frozenset()  # SMTPD_XFORWARD_HOSTS (smtpd/xforward.py)

    @property
    def xforward_trusted(self) -> bool:
        """Is this session's client an MTA whose XFORWARD we believe?"""
        return xforward.is_trusted(self.session.peer if self.session else None,
                                   self.xforward_hosts)

    @syntax("XFORWARD attribute=value ...", when="xforward_trusted")
    async def smtp_XFORWARD(self, arg: str) -> None:
        """Postfix names the real client; kept on the session for DATA (handler.py)."""
        if not self.xforward_trusted:
            await self.push("550 5.7.0 XFORWARD is not permitted from your address")
            return
        if self.envelope.mail_from is not None:
            await self.push("503 5.5.1 XFORWARD must come before MAIL FROM")
            return
        try:
            attributes = xforward.parse(arg or "")
        except ValueError as exc:
            await self.push(f"501 5.5.4 {exc}")
            return
        forwarded = getattr(self.session, "xforward", {})
        forwarded.update(attributes)
        self.session.xforward = forwarded
        await self.push("250 2.0.0 Ok")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if getattr(self, "_counted", False):
            # aiosmtpd calls this again with the TLS transport after STARTTLS: the same
            # session, already counted, so only aiosmtpd's own reset is wanted.
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        self._peer_ip = peer[0] if isinstance(peer, tuple) else str(peer)
        metrics.SESSIONS.inc()
        if self.per_ip[self._peer_ip] >= self.max_per_ip:
            self._counted = False
            metrics.REJECTED.labels(reason="too_many_connections").inc()
            transport.write(b"421 4.7.0 Too many connections from your address, try later\r\n")
            transport.close()
            return
        self.per_ip[self._peer_ip] += 1
        self._counted = True
        metrics.ACTIVE.inc()
        super().connection_made(transport)

    async def push(self, status: str | bytes) -> None:
        """Every reply, with the enhanced status code aiosmtpd's own 552s lack."""
        if isinstance(status, str):
            status = with_enhanced_code(status, self.data_size_limit or 0)
        await super().push(status)

    async def _call_handler_hook(self, command: str, *args: object) -> object:
        """Run a handler hook with the idle timer held: the client waits on us, not idle.

        SMTPD_TIMEOUT is how long a *client* may stay silent (RFC 5321 4.5.3.2).
        While the handler asks messageserver (a busy database can take seconds
        to accept a post) the client is waiting for our reply; hanging up on it
        then would make it send the post again later, or give up.
        """
        self._in_hook = getattr(self, "_in_hook", 0) + 1
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            self._in_hook -= 1
            if self.transport is not None and not self.transport.is_closing():
                self._reset_timeout()  # the client's full window starts at our reply

    def _timeout_cb(self) -> None:
        """Say why before hanging up on a client that stalls (RFC 5321 4.5.3.2)."""
        if getattr(self, "_in_hook", 0):
            self._reset_timeout()  # we are the slow one (see _call_handler_hook)
            return
        metrics.REJECTED.labels(reason="timeout").inc()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"421 4.4.2 Idle for too long, closing the connection\r\n")
        super()._timeout_cb()

    def connection_lost(self, exc: Exception | None) -> None:
        if getattr(self, "_counted", False):
            self.per_ip[self._peer_ip] -= 1
            if self.per_ip[self._peer_ip] <= 0:
                del self.per_ip[self._peer_ip]
            metrics.ACTIVE.dec()
            self._counted = False
            super().connection_lost(exc)


def factory(handler: GroupsHandler, tls: ssl.SSLContext | None = None) -> LimitedSMTP:
    """One session's protocol; with ``tls`` it offers STARTTLS (smtpd/tls.py)."""
    env = get_env()
    return LimitedSMTP(
        handler,
        data_size_limit=env.max_message_size,
        enable_SMTPUTF8=True,
        decode_data=False,
        hostname=env.groups_domain,
        ident="groups smtpd",
        timeout=env_int("SMTPD_TIMEOUT", 300, minimum=1),
        tls_context=tls,
    )


def http_app(handler: GroupsHandler) -> web.Application:
    """/health (is messageserver reachable?) and /metrics, on SMTPD_HTTP_PORT."""

    async def health(request: web.Request) -> web.Response:
        try:
            await handler.client._call("GET", "/health")
            backend = "ok"
        except Exception as exc:  # reported, not raised: that is what /health is for
            backend = f"unreachable: {exc}"
        ok = backend == "ok"
        return web.json_response({"status": "ok" if ok else "degraded",
                                  "checks": {"messageserver": backend}},
                                 status=200 if ok else 503)

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(middlewares=[token_middleware(get_env().internal_api_token)])
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_view)
    return app


async def serve(host: str, port: int, ready: asyncio.Event | None = None,
                http_port: int | None = None) -> None:
    LimitedSMTP.max_per_ip = env_int("SMTPD_MAX_PER_IP", 20, minimum=1)
    LimitedSMTP.xforward_hosts = xforward.trusted_hosts()
    tls = tls_context()  # a bad certificate stops smtpd here, before it listens
    handler = GroupsHandler()
    loop = asyncio.get_running_loop()
    try:
        from errord.install import asyncio_exception_handler

        loop.set_exception_handler(asyncio_exception_handler)
    except ImportError:
        pass
    server = await loop.create_server(lambda: factory(handler, tls), host=host, port=port)
    runner = None
    if http_port is None:
        http_port = env_int("SMTPD_HTTP_PORT", 8004, minimum=0)
    if http_port:
        runner = web.AppRunner(http_app(handler), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, http_port).start()
    log.info("smtpd listening on %s:%s for %s%s", host,
             server.sockets[0].getsockname()[1], get_env().groups_domain,
             " (STARTTLS offered)" if tls else "")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready:
        ready.set()
    await stop.wait()
    log.info("smtpd stopping")
    server.close()
    await server.wait_closed()
    if runner is not None:
        await runner.cleanup()
    await handler.client.aclose()
