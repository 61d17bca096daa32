"""Search across the archives this person may read.

The search backends belong to the ``search`` package (database full-text or
Elasticsearch). This view passes it the groups the viewer may read, so
privacy is decided here, by groups.web.access, whatever the backend.
"""

from __future__ import annotations

import importlib

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from groups.web import access


def _backend():
    try:
        return importlib.import_module("search")
    except ImportError:
        return None


def search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    group_name = request.GET.get("group", "").strip()
    groups = access.readable_groups(request.user)
    if group_name:
        groups = groups.filter(name=group_name)
    backend = _backend()
    results, error = [], None
    if q and backend is None:
        error = "Search is not available on this site yet."
    elif q:
        try:
            results = backend.query(q, group_ids=list(groups.values_list("pk", flat=True)))
        except Exception as exc:  # the backend's own errors, shown rather than a 500
            error = f"Search failed: {exc}"
    return render(request, "groups/search.html", {
        "q": q, "group_name": group_name, "results": results, "error": error})
