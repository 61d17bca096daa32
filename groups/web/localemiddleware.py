"""A logged-in member's own language and time zone, for the rest of the request.

Django's LocaleMiddleware has already picked a language from the language cookie
or the browser's Accept-Language; a member who chose a language in their profile
gets that one instead, wherever they log in from. Their time zone (User.time_zone)
is activated too, so every time a page shows is in their zone (and named, see
groups/templatetags/localtimes.py). Visitors see UTC.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from groups import languages


class MemberLocaleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            chosen = languages.of_user(user)
            if chosen:
                translation.activate(chosen)
                request.LANGUAGE_CODE = chosen
            timezone.activate(zoneinfo.ZoneInfo(languages.zone_name(user)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
