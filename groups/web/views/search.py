"""Search across the archives this person may read.

The ``search`` package owns the engines (database full-text or Elasticsearch)
and the visibility rule: this view hands it the person asking, never a list
it built itself (the readable groups it reads are only the titles of the
Group menu), so a private group's messages can't reach a page, a count or
a snippet through here. It only turns the form into a query and the results
into a page.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime, time, timedelta

from django.apps import apps
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.visibility import readable_groups
from groups.web.forms import SearchForm

log = logging.getLogger(__name__)
PER_PAGE = 20
MAX_PAGE = 50  # deep pages cost engines dearly and nobody reads them
MAX_GROUP_CHOICES = 500  # the Group menu; beyond, a group is still searchable by its link


def _engine():
    """The search package, once it is an installed app offering ``query`` (else None)."""
    if not apps.is_installed("search"):
        return None
    try:
        module = importlib.import_module("search")
    except ImportError:
        return None
    return module if callable(getattr(module, "query", None)) else None


def _day_start(day) -> datetime:  # noqa: ANN001
    return timezone.make_aware(datetime.combine(day, time.min))


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return min(max(int(raw), 1), MAX_PAGE) if raw.isdigit() else 1


def search(request: HttpRequest) -> HttpResponse:
    """Results first; the filters follow them as a form to refine the search with."""
    form = SearchForm(request.GET or None)
    readable = list(readable_groups(request.user).order_by("title", "name")
                    .values_list("name", "title")[:MAX_GROUP_CHOICES])
    form.set_groups([(name, title or name) for name, title in readable])
    results, error, query_string, scope = None, None, "", None
    engine = _engine()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        titles = dict(readable)
        if data["group"] and data["group"] in titles:  # never name a group they can't read
            scope = titles[data["group"]] or data["group"]
        wanted = data["q"] or any(data[k] for k in SearchForm.FILTERS if k != "group")
        if wanted and engine is None:
            error = _("Search is not available on this site yet.")
        elif wanted:
            try:
                results = engine.query(
                    request.user, data["q"], groups=[data["group"]] if data["group"] else None,
                    hashtag=data["hashtag"] or None, author=data["author"] or None,
                    date_from=_day_start(data["date_from"]) if data["date_from"] else None,
                    date_to=(_day_start(data["date_to"] + timedelta(days=1))
                             if data["date_to"] else None),
                    has_attachment=data["has_attachment"],
                    page=_page_number(request), per_page=PER_PAGE)
            except Exception:  # an engine down or confused: say so rather than a 500
                log.exception("search failed for %r", data["q"])
                error = _("Search failed just now; please try again in a minute.")
        params = request.GET.copy()
        params.pop("page", None)
        query_string = params.urlencode()
    widen = ""
    if scope is not None:
        params = request.GET.copy()
        for key in ("page", "group"):
            params.pop(key, None)
        widen = params.urlencode()
    refining = form.is_bound and (results is not None or bool(form.errors))
    return render(request, "groups/search.html", {
        "form": form, "results": results, "error": error, "extra": query_string,
        "scope": scope, "widen": widen, "refining": refining,
        "filter_fields": [form[name] for name in SearchForm.FILTERS],
        "kept": [(k, request.GET[k]) for k in SearchForm.FILTERS if request.GET.get(k)],
        "filtered": form.is_bound and form.is_valid() and any(
            form.cleaned_data[k] for k in SearchForm.FILTERS)},
        status=400 if form.is_bound and form.errors else 200)
