"""Every process's settings, read from the environment and strictly parsed.

This module is plain Python (no Django) so that Karl, errord and smtpd read
exactly the same settings as the web app without importing Django. A mistyped
number or boolean stops the process at start-up with a clear message; it is
never silently replaced by a default.

Secrets that are not set (INTERNAL_API_TOKEN, SECRET_KEY) are generated once
into DATA_DIR, so every process started from the same DATA_DIR agrees on them.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent


class SettingError(ValueError):
    """An environment variable holds a value that cannot be used."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} must be at least {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw.strip())
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingError(f"{name}={raw!r} is not a boolean (use one of: true, false, 1, 0, yes, no)")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (case-insensitive), or a clear error naming them."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise SettingError(f"{name}={raw!r} must be one of: {', '.join(choices)}")
    return value


def _secret_from_file(data_dir: Path, filename: str, nbytes: int = 32) -> str:
    """Read a generated secret from DATA_DIR, creating it (mode 0600) on first use."""
    path = data_dir / "secrets" / filename
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # first writer wins; a concurrent starter reads its value
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


@dataclass(frozen=True)
class Env:
    groups_domain: str
    data_dir: Path
    database_url: str
    redis_url: str
    elasticsearch_url: str
    search_client: str
    karl_relays: tuple[str, ...]
    bind_address: str
    public_bind_address: str
    internal_bind_address: str
    allowed_hosts: tuple[str, ...]
    behind_tls_proxy: bool
    hsts_seconds: int
    web_port: int
    smtpd_port: int
    messageserver_port: int
    karl_port: int
    errord_port: int
    internal_api_token: str
    secret_key: str
    site_url: str
    debug: bool
    dkim_selector: str
    max_message_size: int
    extra: dict[str, str] = field(default_factory=dict)

    def service_url(self, name: str) -> str:
        """Base URL of an internal service (messageserver, karl, errord).

        MESSAGESERVER_URL, KARL_URL and ERRORD_URL override the derived value,
        for deployments where a service runs on another host.
        """
        override = os.environ.get(f"{name.upper()}_URL", "").strip()
        if override:
            return override.rstrip("/")
        port = {
            "messageserver": self.messageserver_port,
            "karl": self.karl_port,
            "errord": self.errord_port,
        }[name]
        bound = self.internal_bind_address
        host = "127.0.0.1" if bound in ("0.0.0.0", "::", "") else bound
        return f"http://{host}:{port}"

    @property
    def karl_urls(self) -> tuple[str, ...]:
        """The base URLs of every Karl node (KARL_URLS); one node is today's single Karl.

        KARL_URLS is a comma-separated list; without it, KARL_URL or the URL derived
        from KARL_PORT is the one node. messageserver spreads fan-outs over them by
        destination domain (karl.nodes); an entry that is not an http(s) URL stops
        the process at start-up (``load`` reads this once).
        """
        return karl_urls(os.environ.get("KARL_URLS", ""), self.service_url("karl"))

    @property
    def internal_hosts(self) -> tuple[str, ...]:
        """Host names the internal HTTP APIs are reached by (for messageserver's Host check)."""
        hosts = ["127.0.0.1", "localhost", "[::1]", self.internal_bind_address]
        urls = [self.service_url(name) for name in ("messageserver", "karl", "errord")]
        for url in [*urls, *self.karl_urls]:
            host = urlsplit(url).hostname
            if host:
                hosts.append(f"[{host}]" if ":" in host else host)
        return tuple(dict.fromkeys(h for h in hosts if h not in ("", "0.0.0.0", "::")))

    @property
    def dkim_key_path(self) -> Path:
        return self.data_dir / "dkim" / f"{self.groups_domain}.{self.dkim_selector}.pem"


def allowed_hosts(site_url: str, extra: str) -> tuple[str, ...]:
    """The host names the website answers for: SITE_URL's, plus ALLOWED_HOSTS (comma list).

    Django refuses (400) a request whose Host is not among them, so nothing
    built from the request can name a host an attacker chose.
    """
    parts = urlsplit(site_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(f"SITE_URL={site_url!r} must be an http:// or https:// URL with a host")
    hosts = [parts.hostname]
    hosts += [h.strip().lower() for h in extra.split(",") if h.strip()]
    return tuple(dict.fromkeys(hosts))


def karl_urls(raw: str, single: str) -> tuple[str, ...]:
    """KARL_URLS parsed: distinct http(s) base URLs without a trailing slash, in order.

    Empty means the one node ``single`` (KARL_URL or the derived URL).
    """
    urls = [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingError(f"KARL_URLS entry {url!r} is not an http:// or https:// base URL")
    return tuple(dict.fromkeys(urls)) or (single,)


def load() -> Env:
    """Read the environment now (tests call this after changing os.environ)."""
    data_dir = Path(env_str("DATA_DIR", str(PROJECT_DIR / "var"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    relays_raw = env_str("KARL_RELAYS", f"maildir:{data_dir / 'outbox'}")
    relays = tuple(r.strip() for r in relays_raw.split(",") if r.strip())
    for relay in relays:
        if not (relay.startswith(("smtp://", "smtps://", "maildir:")) or relay == "mx"):
            shown = re.sub(r"//[^/@]*@", "//***@", relay)  # never echo a password
            raise SettingError(
                f"KARL_RELAYS entry {shown!r} is not smtp://host:port, maildir:PATH or mx"
            )
    search_client = env_str("SEARCH_CLIENT", "elasticsearch").lower()
    if search_client not in ("elasticsearch", "opensearch"):
        raise SettingError(f"SEARCH_CLIENT={search_client!r} must be elasticsearch or opensearch")
    bind_address = env_str("BIND_ADDRESS", "127.0.0.1")
    site_url = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
    env = Env(
        groups_domain=env_str("GROUPS_DOMAIN", "groups.localhost").lower(),
        data_dir=data_dir,
        database_url=env_str("DATABASE_URL", f"sqlite:///{data_dir / 'groups.sqlite3'}"),
        redis_url=env_str("REDIS_URL", ""),
        elasticsearch_url=env_str("ELASTICSEARCH_URL", ""),
        search_client=search_client,
        karl_relays=relays,
        bind_address=bind_address,
        public_bind_address=env_str("PUBLIC_BIND_ADDRESS", bind_address),
        internal_bind_address=env_str("INTERNAL_BIND_ADDRESS", bind_address),
        allowed_hosts=allowed_hosts(site_url, env_str("ALLOWED_HOSTS", "")),
        behind_tls_proxy=env_bool("BEHIND_TLS_PROXY", False),
        hsts_seconds=env_int("HSTS_SECONDS", 365 * 86400, minimum=0),
        web_port=env_int("WEB_PORT", 8000, minimum=0),
        smtpd_port=env_int("SMTPD_PORT", 2525, minimum=0),
        messageserver_port=env_int("MESSAGESERVER_PORT", 8001, minimum=0),
        karl_port=env_int("KARL_PORT", 8002, minimum=0),
        errord_port=env_int("ERRORD_PORT", 8003, minimum=0),
        internal_api_token=env_str("INTERNAL_API_TOKEN", "")
        or _secret_from_file(data_dir, "internal_api_token"),
        secret_key=env_str("SECRET_KEY", "") or _secret_from_file(data_dir, "secret_key", 48),
        site_url=site_url,
        debug=env_bool("DEBUG", False),
        dkim_selector=env_str("DKIM_SELECTOR", "groups"),
        max_message_size=env_int("MAX_MESSAGE_SIZE", 25 * 1024 * 1024, minimum=1024),
    )
    env.karl_urls  # noqa: B018 - a mistyped KARL_URLS stops the process now, not at hand-off
    return env


@lru_cache(maxsize=1)
def get_env() -> Env:
    """The settings of this process, read once."""
    return load()
