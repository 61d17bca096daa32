"""An HTTP client that connects to public addresses only: the feed crawler's guard against SSRF.

An owner chooses a feed's URL, and the crawler fetches it from inside our
network, so a URL naming loopback, a private range or a link-local address
(cloud metadata at 169.254.169.254) would let the owner probe or read
internal services. Checking the URL's text is not enough: a public-looking
name can resolve to 127.0.0.1, or resolve to a public address once and to a
private one a moment later (DNS rebinding). So the check happens where the
connection is made: this module's network backend resolves the name itself,
refuses every address that is not globally routable, and connects to the
very address it checked. Redirects go through the same backend, and proxies
from the environment are ignored (trust_env=False), so nothing bypasses it.

FEED_ALLOW_PRIVATE=true turns the check off for operators whose feeds live on
their own network (and for tests that serve feeds from loopback).
FEED_NAMESERVER=IP[:PORT] makes the lookups ask that server (tests use a
local dnslib zone); without it the system's resolver is used.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

from platformcore.dnsresolver import Nameserver, make_resolver

Resolve = Callable[[str, int], list[str]]


class NotPublic(httpcore.ConnectError):
    """The host resolved only to addresses we must not connect to (httpx: ConnectError)."""


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_is_private(url: str) -> bool:
    """True when ``url``'s host is an IP address (not a name) that is not public."""
    host = urlsplit(url).hostname or ""
    try:
        return not is_public(host)
    except ValueError:  # a name: only its resolved addresses can tell
        return host.lower() == "localhost" or host.lower().endswith(".localhost")


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system's resolver (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def nameserver_resolve(nameserver: Nameserver, timeout: float) -> Resolve:
    """A resolver asking one DNS server for A and AAAA records."""
    resolver = make_resolver(nameserver, timeout)

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        found: list[str] = []
        for qtype in ("A", "AAAA"):
            try:
                found += [r.address for r in resolver.resolve(host, qtype)]
            except Exception:  # NXDOMAIN, no such record, timeout: try the other type
                continue
        if not found:
            raise httpcore.ConnectError(f"{host} has no address")
        return found

    return resolve


class PublicOnlyBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses that pass ``is_public``."""

    def __init__(self, resolve: Resolve = system_resolve, allow_private: bool = False) -> None:
        self.resolve = resolve
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[tuple] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = self.resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        refused: list[str] = []
        last_error: Exception | None = None
        for address in addresses:
            if not self.allow_private and not is_public(address):
                refused.append(address)
                continue
            try:  # connect to the address just checked, never to the name again
                return super().connect_tcp(address, port, timeout, local_address,
                                           socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        if last_error is not None:
            raise last_error
        raise NotPublic(f"{host} resolves to {', '.join(refused)}, which is not a public "
                        "address; feeds are fetched from public addresses only "
                        "(FEED_ALLOW_PRIVATE)")


def public_client(timeout: float, *, allow_private: bool = False,
                  resolve: Resolve = system_resolve) -> httpx.Client:
    """An httpx.Client (redirects followed) whose every connection goes through the check."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no argument for it: give its connection pool our network backend.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=transport._pool._ssl_context,
        network_backend=PublicOnlyBackend(resolve, allow_private))
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=True,
                        trust_env=False)
