"""``short_datetime``: "5 Mar 2024 09:30", as ``|date:"j M Y H:i"`` writes it, cheaply.

A topic page shows 50 message dates and a topic list 25; Django's date filter
takes ~100 µs a call (it re-reads format settings and parses the format each
time), a fifth of such a page's render. This writes the same text — the
current time zone, the month's translated abbreviation — in a few µs.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.dates import MONTHS_3

register = template.Library()


@register.filter(expects_localtime=True)  # as |date: the template hands it local time
def short_datetime(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    return f"{value.day} {str(MONTHS_3[value.month]).title()} {value.year:04d} {value:%H:%M}"
