"""Which DNS server a process asks: one parser for the *_NAMESERVER settings, one resolver maker.

Sender authentication and DMARC policy lookups (messageserver.dnslookup, one
cached resolver for SPF, DKIM, ARC and DMARC) and direct MX delivery (Karl) let an
operator, or a test, point them at one server with ``HOST[:PORT]``. The
setting is parsed here, strictly, so a typo stops the process at start-up with
the setting's name in the message instead of failing every lookup later.
Without a setting the system's resolver (/etc/resolv.conf) is used.
"""

from __future__ import annotations

import ipaddress
from typing import TypeVar

import dns.asyncresolver
import dns.resolver

from platformcore.env import SettingError, env_str

Nameserver = tuple[str, int]  # (IP address, port)
R = TypeVar("R", dns.resolver.Resolver, dns.asyncresolver.Resolver)


def parse_nameserver(setting: str, value: str) -> Nameserver:
    """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address; port 53 when none is given.

    Only addresses: a resolver cannot look up the name of its own nameserver.
    """
    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise SettingError(f"{setting}={value!r}: write an IPv6 address as [ADDRESS]:PORT")
        port = rest[1:] or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SettingError(f"{setting}={value!r}: {host!r} is not an IP address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError(f"{setting}={value!r}: the port is not a number from 1 to 65535")
    return host, int(port)


def env_nameserver(name: str) -> Nameserver | None:
    """The nameserver setting ``name``, or None when it is unset (use the system's)."""
    value = env_str(name, "")
    return parse_nameserver(name, value) if value else None


def make_resolver(nameserver: Nameserver | None, timeout: float, *,
                  cls: type[R] = dns.resolver.Resolver) -> R:
    """A resolver asking ``nameserver`` (or the system's), giving up after ``timeout`` seconds."""
    if nameserver is not None:
        resolver = cls(configure=False)
        resolver.nameservers = [nameserver[0]]
        resolver.port = nameserver[1]
    else:
        try:
            resolver = cls()
        except dns.resolver.NoResolverConfiguration:
            resolver = cls(configure=False)
            resolver.nameservers = ["127.0.0.1"]
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver
