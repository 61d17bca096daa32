"""Where a person goes after signing up or logging in: back to what they were doing.

``next`` travels in forms and in the links we mail, unsigned; it is followed
only to a page of this site (Django's url_has_allowed_host_and_scheme), so a
crafted link can't send anyone elsewhere. A sign-up that started at a group's
Join button finishes the join on arrival (``JOIN_ON_ARRIVAL``, read by
groups.web.views.members.join): signing up from that button was the request.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme

JOIN_ON_ARRIVAL = "join_on_arrival"


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` when it is a page of this site, else ""."""
    candidate = (candidate or "").strip()
    if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return ""


def from_request(request: HttpRequest) -> str:
    """The safe ``next`` of a form (POST) or of the address (GET)."""
    return safe_next(request, request.POST.get("next") or request.GET.get("next"))


def arrive(request: HttpRequest, next_url: str, *, complete_join: bool = False
           ) -> HttpResponseRedirect:
    """Redirect to ``next_url`` (or the default page); a join page joins when asked to."""
    next_url = safe_next(request, next_url)
    if not next_url:
        return HttpResponseRedirect(resolve_url(settings.LOGIN_REDIRECT_URL))
    if complete_join:
        try:
            match = resolve(next_url.split("?", 1)[0])
        except Resolver404:
            match = None
        if match is not None and match.url_name == "join":
            request.session[JOIN_ON_ARRIVAL] = match.kwargs["group_name"]
    return HttpResponseRedirect(next_url)
