"""The footer's language menu: the visitor's choice, kept as a cookie and, for a
logged-in member, as their profile's language (which outranks the cookie)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from groups import languages


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie, safe redirect back), plus the member's setting."""
    response = django_set_language(request)
    chosen = languages.supported(request.POST.get("language", ""))
    user = request.user
    if chosen and user.is_authenticated and hasattr(user, "language"):
        user.language = chosen
        user.save(update_fields=["language"])
    return response
