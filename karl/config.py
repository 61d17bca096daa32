"""Karl's settings: platformcore.env for what every process shares, KARL_* for Karl's own knobs.

Read once at start-up with the strict parsers of platformcore/env.py, so a mistyped
number stops Karl with a clear message rather than running with a default.

Relay URLs are parsed here too (transports.parse_relay_url), and any
credentials in them are moved to ``relay_credentials``: ``relays`` holds only
names that are safe to show in /health, /metrics, logs and the spool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from karl.transports import STARTTLS_MODES, parse_relay_url
from platformcore.dnsresolver import Nameserver, env_nameserver
from platformcore.env import Env, SettingError, env_bool, env_float, env_int, get_env


@dataclass(frozen=True)
class KarlConfig:
    bind_address: str
    port: int
    spool_dir: Path
    relays: tuple[str, ...]
    token: str
    domain: str
    dkim_selector: str
    dkim_key_path: Path
    events_url: str
    dkim_ed25519: bool = False
    concurrency: int = 64  # messages in flight overall (from_env: 2 batches per worker)
    connections_per_host: int = 8  # SMTP connections per relay or MX host
    workers: int = 0  # delivery processes (0: deliver in the server process)
    batch_size: int = 100  # recipients handed to a worker at once
    lifetime: int = 5 * 24 * 3600
    max_job_bytes: int = 64 * 1024 * 1024
    retry_base: float = 60.0
    retry_max: float = 6 * 3600.0
    relay_fail_threshold: int = 3  # N failures in a row: unhealthy
    relay_recover_threshold: int = 2  # M successes in a row: healthy again
    probe_interval: float = 30.0
    smtp_timeout: float = 60.0
    smtp_starttls: str = "opportunistic"  # opportunistic, required, off
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    helo_name: str = ""
    keep_done: int = 7 * 24 * 3600  # how long finished jobs stay visible
    idempotency_retention: int = 7 * 24 * 3600  # keys outlive their purged job this long
    dns_nameserver: Nameserver | None = None  # None: the system's resolver
    mx_port: int = 25  # where ``mx`` delivery connects (tests use another)
    # relay name: (username, password), taken out of the relay URLs
    relay_credentials: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check every smtp:// relay now and keep its credentials out of its name."""
        names: list[str] = []
        credentials = dict(self.relay_credentials)
        for spec in self.relays:
            if not spec.startswith(("smtp://", "smtps://")):
                names.append(spec)
                continue
            try:
                relay = parse_relay_url(spec)
            except ValueError as exc:
                raise SettingError(f"KARL_RELAYS: {exc}") from None
            if relay.username:
                if credentials.get(relay.name, (relay.username, relay.password)) != (
                        relay.username, relay.password):
                    raise SettingError(f"KARL_RELAYS: {relay.name} is listed twice with "
                                       "different credentials")
                credentials[relay.name] = (relay.username, relay.password)
            names.append(relay.name)
        object.__setattr__(self, "relays", tuple(names))
        object.__setattr__(self, "relay_credentials", credentials)

    def with_overrides(self, **changes: object) -> KarlConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def from_env(env: Env | None = None) -> KarlConfig:
    env = env or get_env()
    workers_default = 0 if (os.cpu_count() or 1) < 2 else min(4, os.cpu_count() or 1)
    workers = env_int("KARL_WORKERS", workers_default, minimum=0)
    batch_size = env_int("KARL_BATCH_SIZE", 100, minimum=1)
    starttls = os.environ.get("KARL_SMTP_STARTTLS", "opportunistic").strip().lower()
    if starttls not in STARTTLS_MODES:
        raise SettingError(f"KARL_SMTP_STARTTLS={starttls!r} must be opportunistic, "
                           "required or off")
    return KarlConfig(
        bind_address=env.internal_bind_address,  # an internal API: never the public address
        port=env.karl_port,
        spool_dir=env.data_dir / "karl-spool",
        relays=env.karl_relays,
        token=env.internal_api_token,
        domain=env.groups_domain,
        dkim_selector=env.dkim_selector,
        dkim_key_path=env.dkim_key_path,
        events_url=env.service_url("messageserver") + "/v1/delivery-events",
        dkim_ed25519=env_bool("KARL_DKIM_ED25519", False),
        concurrency=env_int("KARL_CONCURRENCY", concurrency_default(workers, batch_size),
                            minimum=1),
        connections_per_host=env_int("KARL_CONNECTIONS_PER_HOST", 8, minimum=1),
        workers=workers,
        batch_size=batch_size,
        lifetime=env_int("KARL_LIFETIME", 5 * 24 * 3600, minimum=1),
        max_job_bytes=env_int("KARL_MAX_JOB_BYTES", 64 * 1024 * 1024, minimum=1024),
        retry_base=env_float("KARL_RETRY_BASE", 60.0),
        retry_max=env_float("KARL_RETRY_MAX", 6 * 3600.0),
        relay_fail_threshold=env_int("KARL_RELAY_FAILURES", 3, minimum=1),
        relay_recover_threshold=env_int("KARL_RELAY_RECOVERIES", 2, minimum=1),
        probe_interval=env_float("KARL_PROBE_INTERVAL", 30.0),
        smtp_timeout=env_float("KARL_SMTP_TIMEOUT", 60.0),
        smtp_starttls=starttls,
        smtp_username=os.environ.get("KARL_SMTP_USERNAME", ""),
        smtp_password=os.environ.get("KARL_SMTP_PASSWORD", ""),
        helo_name=os.environ.get("KARL_HELO_NAME", "").strip() or env.groups_domain,
        keep_done=env_int("KARL_KEEP_DONE", 7 * 24 * 3600, minimum=0),
        idempotency_retention=env_int("KARL_IDEMPOTENCY_RETENTION", 7 * 24 * 3600, minimum=0),
        dns_nameserver=env_nameserver("KARL_DNS_NAMESERVER"),
        mx_port=_port("KARL_MX_PORT", 25),
    )


def concurrency_default(workers: int, batch_size: int) -> int:
    """Two batches per delivery process: one being signed, the next waiting for it.

    With fewer, a worker finishing its batch waits for the scheduler to record
    it and hand out another, and a core idles: at 64 (the old default) one
    batch of 100 was in flight at a time and one of two workers signed. The
    window is also what a kill -9 of Karl can send twice (copies out whose
    outcome was not yet written), so it is no larger than keeps every core busy.
    """
    return max(64, 2 * batch_size * max(1, workers))


def _port(name: str, default: int) -> int:
    port = env_int(name, default, minimum=1)
    if port > 65535:
        raise SettingError(f"{name}={port} must be at most 65535")
    return port
