"""Small helpers every view module shares: pagination and the ?page= parameter."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 25


def paginate(request: HttpRequest, items, per_page: int = PER_PAGE) -> Page:
    """The requested page; a bad or out-of-range ?page= shows the nearest real page."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


class KeysFirstPaginator(Paginator):
    """Pages of a long ordered queryset that stay fast at any depth.

    A page's primary keys are read first, from whichever end of the ordering
    is nearer (an index-only scan when an index matches the ordering), and
    only then those rows with their joins and prefetches: OFFSET never drags
    thousands of joined rows along, and the last page costs what the first does.
    """

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        rows = self.object_list
        if bottom > self.count - top:  # nearer the end: walk the ordering backwards
            keys = list(rows.reverse().values_list("pk", flat=True)[self.count - top:
                                                                     self.count - bottom])
            keys.reverse()
        else:
            keys = list(rows.values_list("pk", flat=True)[bottom:top])
        found = {row.pk: row for row in rows.filter(pk__in=keys)} if keys else {}
        return self._get_page([found[k] for k in keys if k in found], number, self)


def paginate_keys_first(request: HttpRequest, items, per_page: int = PER_PAGE) -> Page:
    """``paginate`` for lists that grow without bound (a group's topics, a long topic)."""
    return KeysFirstPaginator(items, per_page).get_page(request.GET.get("page"))
