"""Keyset ("seek") pagination: pages of a long list that cost the same at any depth.

A page is the next ``size`` rows after (or before) the last key shown, read
from an index in the list's order: no OFFSET walks the rows already passed, so
the first page, the thousandth and the last of a 100,000-member group each
read ~``size`` index entries. The links carry the edge key (``?after=``,
``?before=``, ``?last=1``); there are no page numbers to jump to, as on
Groups.io's member list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet


@dataclass
class KeysetPage:
    items: list[Any]
    has_previous: bool
    has_next: bool
    first_key: str = ""
    last_key: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def page(rows: QuerySet, *, key: str, params: dict[str, str], size: int,
         descending: bool = False, to_text: Callable[[Any], str] = str,
         from_text: Callable[[str], Any] = str) -> KeysetPage:
    """One page of ``rows`` ordered by the unique field ``key``.

    ``params`` is the request's GET: ``after`` (the next page), ``before``
    (the previous one) or ``last`` (the last page); none of them: the first.
    ``to_text``/``from_text`` turn a key into the link's text and back; a key
    that does not parse shows the first page.
    """
    forward = f"-{key}" if descending else key
    backward = key if descending else f"-{key}"
    after_op = "lt" if descending else "gt"
    before_op = "gt" if descending else "lt"
    try:
        after = from_text(params["after"]) if params.get("after") else None
        before = from_text(params["before"]) if params.get("before") else None
    except (TypeError, ValueError):
        after = before = None
    if after is not None:
        items = list(rows.filter(**{f"{key}__{after_op}": after}).order_by(forward)[:size + 1])
        has_previous, has_next = True, len(items) > size
        items = items[:size]
    elif before is not None or params.get("last"):
        if before is not None:
            rows = rows.filter(**{f"{key}__{before_op}": before})
        items = list(rows.order_by(backward)[:size + 1])
        has_previous, has_next = len(items) > size, before is not None
        items = items[:size][::-1]
    else:
        items = list(rows.order_by(forward)[:size + 1])
        has_previous, has_next = False, len(items) > size
        items = items[:size]
    if not items:
        return KeysetPage([], False, False)
    return KeysetPage(items, has_previous, has_next, to_text(getattr(items[0], key)),
                      to_text(getattr(items[-1], key)))
