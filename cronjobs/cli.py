"""What the jobs' management commands share: the --now option and its strict parsing."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def add_now_argument(parser) -> None:  # noqa: ANN001 (argparse parser)
    parser.add_argument("--now", metavar="ISO-TIME",
                        help="Run as if it were this time (UTC unless an offset is given), "
                             "e.g. 2026-11-24T00:00; default: the current time.")


def now_from(options: dict) -> datetime:
    raw = options.get("now")
    if not raw:
        return timezone.now()
    value = parse_datetime(raw.strip().replace("Z", "+00:00"))
    if value is None:
        raise CommandError(f"--now {raw!r} is not a date and time like 2026-11-24T00:00")
    return value if value.tzinfo else value.replace(tzinfo=UTC)
