"""Search in the group tools' text: calendar events, wiki pages and file names.

These tables are small next to the archive (a group has hundreds of events and pages,
not millions of messages), so a case-insensitive match in the database answers in
milliseconds without an index of their own. The privacy rule is the archive's, applied
the same way (search.visibility), and each tool switched off in a group is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import reverse

from groups.models import Event, StoredFile, WikiPage
from search.visibility import readable_group_ids

LIMIT = 20  # per kind


@dataclass(frozen=True)
class ToolHit:
    kind: str  # "event", "wiki", "file"
    group: str
    group_title: str
    title: str
    url: str
    when: datetime


def _words(q: str) -> list[str]:
    return [w for w in q.split() if w][:8]


def query(user, q: str, groups=None) -> list[ToolHit]:  # noqa: ANN001
    """Events, wiki pages and files whose text has every word of ``q``, newest first."""
    words = _words(q)
    ids = readable_group_ids(user, groups)
    if not words or not ids:
        return []
    hits: list[ToolHit] = []

    def every(*fields: str) -> Q:
        where = Q()
        for word in words:
            any_field = Q()
            for field in fields:
                any_field |= Q(**{f"{field}__icontains": word})
            where &= any_field
        return where

    for e in (Event.objects.filter(every("title", "description", "location"),
                                   group_id__in=ids, group__calendar_enabled=True)
              .select_related("group").order_by("-start")[:LIMIT]):
        hits.append(ToolHit("event", e.group.name, e.group.display_title, e.title,
                            reverse("event", args=[e.group.name, e.pk]), e.start))
    for p in (WikiPage.objects.filter(every("title", "body"), group_id__in=ids,
                                      group__wiki_enabled=True)
              .select_related("group").order_by("-updated_at")[:LIMIT]):
        hits.append(ToolHit("wiki", p.group.name, p.group.display_title, p.title,
                            reverse("wiki_page", args=[p.group.name, p.slug]), p.updated_at))
    for f in (StoredFile.objects.filter(every("name", "description"), group_id__in=ids,
                                        group__files_enabled=True)
              .select_related("group").order_by("-uploaded_at")[:LIMIT]):
        hits.append(ToolHit("file", f.group.name, f.group.display_title, f.name,
                            reverse("file_download", args=[f.group.name, f.pk, f.name]),
                            f.uploaded_at))
    return sorted(hits, key=lambda h: h.when, reverse=True)
