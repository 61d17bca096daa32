"""XFORWARD (Postfix's XFORWARD_README): the real client's address and HELO, from a trusted MTA.

When Postfix on port 25 hands mail to smtpd, the connection smtpd sees comes
from Postfix (127.0.0.1), so SPF would be checked against the wrong address
and every SPF-only sender would fail DMARC. Postfix tells the next hop who
the client really was with ``XFORWARD ADDR=... HELO=...`` before MAIL FROM,
when the server offers it in EHLO. smtpd offers and believes it only from the
addresses in SMTPD_XFORWARD_HOSTS (comma-separated IPs; empty: off), because
any other client could claim any address with it.
"""

from __future__ import annotations

import ipaddress
import re

from platformcore.env import SettingError, env_str

ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
_UNAVAILABLE = ("[UNAVAILABLE]", "[TEMPUNAVAIL]")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_hosts() -> frozenset[IPAddress]:
    """SMTPD_XFORWARD_HOSTS, parsed strictly (a typo stops smtpd at start-up)."""
    raw = env_str("SMTPD_XFORWARD_HOSTS", "")
    hosts = set()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            hosts.add(ipaddress.ip_address(item))
        except ValueError:
            raise SettingError(f"SMTPD_XFORWARD_HOSTS={raw!r}: {item!r} is not an IP "
                               "address") from None
    return frozenset(hosts)


def is_trusted(peer: object, hosts: frozenset[IPAddress]) -> bool:
    if not hosts or not isinstance(peer, tuple):
        return False
    try:
        return ipaddress.ip_address(str(peer[0]).split("%")[0]) in hosts
    except ValueError:
        return False


def _xtext_decode(value: str) -> str:
    """RFC 3461 xtext: ``+XX`` is the byte with hex value XX."""
    return re.sub(r"\+([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def parse(arg: str) -> dict[str, str]:
    """``NAME=value ...`` into {ATTRIBUTE: value}; unavailable values become ''.

    Raises ValueError naming what is wrong (the caller answers 501).
    """
    if not arg.strip():
        raise ValueError("XFORWARD needs at least one attribute=value")
    out: dict[str, str] = {}
    for item in arg.split():
        name, sep, value = item.partition("=")
        name = name.upper()
        if not sep or name not in ATTRIBUTES:
            raise ValueError(f"bad XFORWARD attribute {item[:40]!r}")
        value = _xtext_decode(value)
        if value in _UNAVAILABLE:
            value = ""
        if name == "ADDR" and value:
            address = value[5:] if value.upper().startswith("IPV6:") else value
            try:
                value = str(ipaddress.ip_address(address))
            except ValueError:
                raise ValueError(f"XFORWARD ADDR {value[:60]!r} is not an IP address") from None
        out[name] = value
    return out
