"""Which language a person gets: the one rule, for pages, notices and digests.

A page follows the logged-in member's own setting (``User.language``; blank means
"follow my browser"), else the language cookie or the browser's Accept-Language
(Django's LocaleMiddleware). Mail has no browser: a notice or digest goes out in
the language of the recipient's account (matched by address), else the site's
default, settings.LANGUAGE_CODE. An owner's own notice wording is sent as written.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.utils import timezone, translation


def supported(code: str) -> str:
    """``code`` if the site offers it (or its base language: "de-at" -> "de"), else ""."""
    if not code:
        return ""
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return ""


def of_user(user: Any) -> str:
    """The language a member chose, or "" to follow the browser (or the site's default).

    ``getattr``: the profile's language field may be absent from an older schema."""
    if user is None:
        return ""
    return supported(getattr(user, "language", "") or "")


def for_address(address: str) -> tuple[str, str]:
    """The language and time zone mail to ``address`` is written in: those of its
    account, else the site's default language and UTC."""
    from groups.models import User

    user = User.objects.filter(email__iexact=address.strip()).first() if address else None
    return of_user(user) or settings.LANGUAGE_CODE, zone_name(user)


def zone_name(user: Any) -> str:
    """The member's time zone if it is a real one, else UTC."""
    name = getattr(user, "time_zone", "") or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


@contextlib.contextmanager
def writing_to(address: str | None) -> Iterator[str]:
    """Render what is inside in the language and time zone of mail to ``address``
    (None: the site's default language, UTC)."""
    language, zone = for_address(address) if address else (settings.LANGUAGE_CODE, "UTC")
    with translation.override(language), timezone.override(zoneinfo.ZoneInfo(zone)):
        yield language
