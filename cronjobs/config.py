"""The site settings of the scheduled jobs, read from the environment and strictly parsed.

Each job takes its settings object as an argument (defaulting to ``X.from_env()``),
so a test passes the values it means instead of patching the environment, and a
mistyped value stops the job with platformcore.env's clear SettingError, never a
silent default. The defaults are Groups.io's.
"""

from __future__ import annotations

from dataclasses import dataclass

from platformcore.dnsresolver import Nameserver, env_nameserver
from platformcore.env import env_bool, env_int


@dataclass(frozen=True)
class DigestSettings:
    # A digest goes out early once this many messages have gathered (DIGEST_EARLY_MESSAGES).
    early_messages: int = 12
    # The most messages one digest holds (DIGEST_MAX_MESSAGES). A member gets at most one
    # digest an hour, so after a scheduler outage the backlog comes in digests this big,
    # one an hour, never in a burst. The daily summary is never cut.
    max_messages: int = 100
    # Local hour for members without a web account (no time zone of their own), in UTC.
    default_hour: int = 0
    # A member's hour is honoured if the job runs within this many hours after it
    # (hourly beat: 1). A longer outage skips to the next day rather than sending at
    # a surprising hour; no message is lost, it waits for the next digest.
    catchup_hours: int = 1

    @classmethod
    def from_env(cls) -> DigestSettings:
        hour = env_int("DIGEST_DEFAULT_HOUR", 0, minimum=0)
        if hour > 23:
            from platformcore.env import SettingError

            raise SettingError(f"DIGEST_DEFAULT_HOUR={hour} must be between 0 and 23")
        early = env_int("DIGEST_EARLY_MESSAGES", 12, minimum=1)
        return cls(early_messages=early,
                   max_messages=env_int("DIGEST_MAX_MESSAGES", 100, minimum=early),
                   default_hour=hour,
                   catchup_hours=env_int("DIGEST_CATCHUP_HOURS", 1, minimum=1))


@dataclass(frozen=True)
class BounceSettings:
    # Soft bounces on at least this many distinct (UTC) days, all within
    # soft_window_days, make a member bouncing (one hard bounce is enough).
    soft_min_days: int = 3
    soft_window_days: int = 8
    probe_interval_days: int = 3
    probes_to_remove: int = 4

    @classmethod
    def from_env(cls) -> BounceSettings:
        return cls(soft_min_days=env_int("BOUNCE_SOFT_MIN_DAYS", 3, minimum=1),
                   soft_window_days=env_int("BOUNCE_SOFT_WINDOW_DAYS", 8, minimum=1),
                   probe_interval_days=env_int("BOUNCE_PROBE_INTERVAL_DAYS", 3, minimum=1),
                   probes_to_remove=env_int("BOUNCE_PROBES_TO_REMOVE", 4, minimum=1))


@dataclass(frozen=True)
class FeedSettings:
    interval_minutes: int = 30  # a healthy feed is polled this often
    max_backoff_minutes: int = 24 * 60  # a failing one waits up to this long
    failures_to_report: int = 3  # consecutive failures before owners and errord hear of it
    timeout_seconds: int = 20
    max_bytes: int = 5 * 1024 * 1024
    max_new_entries: int = 20  # per poll: a feed that suddenly lists 500 items doesn't flood
    # Fetch from loopback and private networks too (cronjobs.publichttp): off, since an
    # owner could otherwise make the crawler read internal services (SSRF).
    allow_private: bool = False
    nameserver: Nameserver | None = None  # FEED_NAMESERVER; None: the system's resolver

    @classmethod
    def from_env(cls) -> FeedSettings:
        return cls(allow_private=env_bool("FEED_ALLOW_PRIVATE", False),
                   nameserver=env_nameserver("FEED_NAMESERVER"),
                   interval_minutes=env_int("FEED_INTERVAL_MINUTES", 30, minimum=1),
                   max_backoff_minutes=env_int("FEED_MAX_BACKOFF_MINUTES", 1440, minimum=1),
                   failures_to_report=env_int("FEED_FAILURES_TO_REPORT", 3, minimum=1),
                   timeout_seconds=env_int("FEED_TIMEOUT_SECONDS", 20, minimum=1),
                   max_bytes=env_int("FEED_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
                   max_new_entries=env_int("FEED_MAX_NEW_ENTRIES", 20, minimum=1))
