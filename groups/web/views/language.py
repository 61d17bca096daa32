"""The footer's language menu: the visitor's choice, kept as a cookie and, for a
logged-in member, as their profile's language (which outranks the cookie).

Visitors send the menu by GET: it only sets the language cookie, so public pages
carry no CSRF token and stay the same for everyone (cacheable, and a refusal page
reads the same whether or not the thing exists). A member's menu is a POST with
the CSRF token their pages already carry, because it changes their account.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from groups import languages


@require_http_methods(["GET", "POST"])
def set_language(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    back = data.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = "/"
    response = HttpResponseRedirect(back)
    chosen = languages.supported(data.get("language", ""))
    if not chosen:
        return response
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, chosen,
                        max_age=settings.LANGUAGE_COOKIE_AGE or 365 * 24 * 3600,
                        path=settings.LANGUAGE_COOKIE_PATH,
                        domain=settings.LANGUAGE_COOKIE_DOMAIN,
                        secure=settings.LANGUAGE_COOKIE_SECURE or request.is_secure(),
                        httponly=True, samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax")
    user = request.user
    if request.method == "POST" and user.is_authenticated and hasattr(user, "language"):
        user.language = chosen
        user.save(update_fields=["language"])
    return response
