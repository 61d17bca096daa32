"""The shape of an error report, validated once at errord's edge.

``POST /v1/errors`` takes one report or ``{"errors": [...]}``. Whatever a
client sends, it either becomes a ``Report`` or an ``InvalidReport`` naming
the field that is wrong, so the sender learns exactly what to fix. Over-long
text is cut rather than refused: an error is worth keeping even when its
traceback is huge.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_BATCH = 500
MAX_MESSAGE = 8_000
MAX_TRACEBACK = 64_000
MAX_SHORT = 200
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL"}


class InvalidReport(ValueError):
    """A report that cannot be stored; ``field`` says which part is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Report:
    service: str
    message: str
    traceback: str = ""
    host: str = ""
    pid: int | None = None
    level: str = "ERROR"
    exc_type: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 40] + f"\n... [{len(text) - limit + 40} characters cut]"


def _text(data: dict[str, Any], name: str, where: str, *, required: bool = False,
          limit: int = MAX_SHORT, cut: bool = False) -> str:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidReport(f"{where}{name}", "is required")
        return ""
    if not isinstance(value, str):
        raise InvalidReport(f"{where}{name}", f"must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise InvalidReport(f"{where}{name}", "must not be empty")
    if len(value) > limit:
        if not cut:
            raise InvalidReport(f"{where}{name}", f"is longer than {limit} characters")
        value = _cut(value, limit)
    return value


def parse_time(value: Any, name: str) -> float:
    """Unix seconds of an ISO 8601 time (naive means UTC) or of a number."""
    if isinstance(value, bool):
        raise InvalidReport(name, "must be an ISO 8601 time")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise InvalidReport(name, "must be a time after 1970")
        return float(value)
    if not isinstance(value, str):
        raise InvalidReport(name, "must be an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidReport(name, f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_report(data: Any, where: str = "") -> Report:
    """One report from decoded JSON; ``where`` prefixes field names in errors."""
    if not isinstance(data, dict):
        raise InvalidReport(where.rstrip(".") or "body", "must be a JSON object")
    service = _text(data, "service", where, required=True, limit=100)
    message = _text(data, "message", where, limit=MAX_MESSAGE, cut=True)
    traceback = _text(data, "traceback", where, limit=MAX_TRACEBACK, cut=True)
    if not message.strip() and not traceback.strip():
        raise InvalidReport(f"{where}message", "a report needs a message or a traceback")
    level = (_text(data, "level", where, limit=20) or "ERROR").upper()
    if level not in LEVELS:
        raise InvalidReport(f"{where}level", f"must be one of {', '.join(sorted(LEVELS))}")
    pid = data.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid < 0):
        raise InvalidReport(f"{where}pid", "must be a non-negative whole number")
    context = data.get("context") or {}
    if not isinstance(context, dict):
        raise InvalidReport(f"{where}context", "must be a JSON object")
    at = data.get("at")
    return Report(
        service=service.strip(),
        message=message,
        traceback=traceback,
        host=_text(data, "host", where),
        pid=pid,
        level=level,
        exc_type=_text(data, "exc_type", where),
        context=context,
        at=time.time() if at in (None, "") else parse_time(at, f"{where}at"),
    )


def parse_body(data: Any) -> list[Report]:
    """All reports of a request body: one report, or ``{"errors": [...]}``."""
    if isinstance(data, dict) and "errors" in data:
        items = data["errors"]
        if not isinstance(items, list):
            raise InvalidReport("errors", "must be a list of reports")
        if not items:
            raise InvalidReport("errors", "must not be empty")
        if len(items) > MAX_BATCH:
            raise InvalidReport("errors", f"holds more than {MAX_BATCH} reports")
        return [parse_report(item, f"errors[{i}].") for i, item in enumerate(items)]
    return [parse_report(data)]
