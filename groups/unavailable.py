"""What the website and messageserver answer while the database is unreachable: 503.

Both URLconfs name these views as ``handler500``. Django calls that handler
for any exception no view caught, anywhere in the middleware chain (a session
saved after the view, too), with the exception still current; a database
that cannot be reached (PostgreSQL down or cut off, SQLite locked past its
busy timeout) is a temporary state, so it gets "503 Service Unavailable" with
Retry-After, a page that needs no database, and for messageserver a JSON body
(smtpd turns any 5xx into 451, so the sending MTA retries). Every other
exception stays the plain 500 it was. Both are still logged and reach errord.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

RETRY_AFTER = "30"  # seconds: what a browser or an API client is told to wait


def database_unavailable() -> bool:
    """Is the exception being handled the database failing to answer (not a bug)?"""
    return isinstance(sys.exc_info()[1], (OperationalError, InterfaceError))


def page_error(request: HttpRequest) -> HttpResponse:
    """The website's handler500: a 503 page without the database, else Django's 500."""
    if not database_unavailable():
        return defaults.server_error(request)
    # Rendered without the request: its context processors would read the session.
    html = render_to_string("groups/unavailable.html", {"GROUPS_DOMAIN": settings.GROUPS_DOMAIN})
    return HttpResponse(html, status=503, headers={"Retry-After": RETRY_AFTER})


def api_error(request: HttpRequest) -> HttpResponse:
    """messageserver's handler500: JSON, 503 when the database is unavailable, else 500."""
    if database_unavailable():
        return JsonResponse({"error": "the database is unavailable; try again later"},
                            status=503, headers={"Retry-After": RETRY_AFTER})
    return JsonResponse({"error": "internal error; it has been logged"}, status=500)
