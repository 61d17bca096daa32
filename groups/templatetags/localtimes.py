"""``localtime_named``: a time in the reader's time zone and language, with the zone named.

"7 Dec 2026, 14:05 CET" for a member in Europe/Berlin reading English, "7. Dezember
2026 14:05 CET" in German. The time zone is the member's own (activated per request by
groups/web/localemiddleware.py, per recipient for mail); naming it spares the reader
guessing whether a time is theirs, the sender's or the server's.

``{{ value|localtime_named }}`` uses the language's DATETIME_FORMAT;
``{{ value|localtime_named:"SHORT_DATETIME_FORMAT" }}`` or a format string for others.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import formats, timezone

register = template.Library()


@register.filter(expects_localtime=True)
def localtime_named(value: datetime | None, fmt: str = "DATETIME_FORMAT") -> str:
    if not isinstance(value, datetime):
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    zone = value.tzname() if timezone.is_aware(value) else timezone.get_current_timezone_name()
    return f"{formats.date_format(value, fmt)} {zone}"
