"""Small helpers every view module shares: pagination and the ?page= parameter."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 25


def paginate(request: HttpRequest, items, per_page: int = PER_PAGE) -> Page:
    """The requested page; a bad or out-of-range ?page= shows the nearest real page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))
