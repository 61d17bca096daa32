"""Spans of time written the way people type them: 90, 90s, 30m, 1h, 2d, 1w."""

from __future__ import annotations

import re

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> int:
    """Whole seconds of ``text``; ValueError with a readable message otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (examples: 90, 30m, 1h, 2d)")
    seconds = int(float(match[1]) * _UNITS[match[2].lower()])
    if seconds < 1:
        raise ValueError(f"{text!r} is shorter than a second")
    return seconds
