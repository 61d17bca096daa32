"""A group's wiki: Markdown pages (the posts' renderer and sanitiser), links between pages
with [[Page title]], every version kept, diffs between any two, revert.

Saving is optimistic: the editor sends the revision it started from, and a save on top of
someone else's newer one is refused (the form shows theirs), so no edit is silently lost.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from groups import activitylog, links
from groups.models import Group, WikiPage, WikiRevision
from platformcore import markdown

HOME = "home"
_LINK = re.compile(r"\[\[([^\[\]|\n]{1,200})(?:\|([^\[\]\n]{1,200}))?\]\]")


class Conflict(ValueError):
    """The page changed since the editor opened it."""


def slug_for(title: str) -> str:
    return slugify(title, allow_unicode=True)[:200] or "page"


def page_url(group: Group, slug: str) -> str:
    return reverse("wiki_page", urlconf=links.WEB, args=[group.name, slug])


def render(group: Group, body: str) -> str:
    """The page's HTML: [[Title]] and [[Title|text]] become links (to a page, or to make it)."""
    existing = set(WikiPage.objects.filter(group=group).values_list("slug", flat=True))

    def link(found: re.Match) -> str:
        title = found.group(1).strip()
        text = (found.group(2) or title).strip().replace("]", "")
        slug = slug_for(title)
        label = text if slug in existing else f"{text} (new page)"
        return f"[{label}]({page_url(group, slug)})"

    return markdown.render(_LINK.sub(link, body or ""))


def save(group: Group, slug: str, title: str, body: str, *, author, comment: str,  # noqa: ANN001
         base: int, verb: str = "wiki_edited") -> WikiPage:
    """Store a new revision of the page (making the page if it is new), or Conflict."""
    now = timezone.now()
    with transaction.atomic():
        page = WikiPage.objects.select_for_update().filter(group=group, slug=slug).first()
        if page is None:
            page = WikiPage.objects.create(group=group, slug=slug, title=title, created_at=now)
        elif page.revision != base:
            raise Conflict(f"This page was changed (version {page.revision}) after you "
                           f"started from version {base}.")
        number = page.revision + 1
        WikiRevision.objects.create(page=page, number=number, title=title, body=body,
                                    comment=comment[:300], author=author, at=now)
        WikiPage.objects.filter(pk=page.pk).update(title=title, body=body, revision=number,
                                                   updated_at=now)
        activitylog.record(group, actor=getattr(author, "email", "") or "", verb=verb,
                           target=title, detail={"version": number, "comment": comment}
                           if comment else {"version": number})
        page.refresh_from_db()
    return page


def revert(page: WikiPage, number: int, *, author) -> WikiPage:  # noqa: ANN001
    """A new revision with version ``number``'s text (history is never rewritten)."""
    old = page.revisions.get(number=number)
    return save(page.group, page.slug, old.title, old.body, author=author,
                comment=f"Reverted to version {number}", base=page.revision,
                verb="wiki_reverted")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed"
    text: str


def diff(older: WikiRevision, newer: WikiRevision) -> list[DiffLine]:
    """Line by line, what changed from ``older`` to ``newer`` (titles included)."""
    a = [f"# {older.title}", *older.body.splitlines()]
    b = [f"# {newer.title}", *newer.body.splitlines()]
    out = []
    for line in difflib.ndiff(a, b):
        code, text = line[:2], line[2:]
        if code == "? ":
            continue
        out.append(DiffLine({"  ": "same", "+ ": "added", "- ": "removed"}[code], text))
    return out


def announce_text(page: WikiPage, comment: str) -> str:
    lines = [f"The wiki page “{page.title}” was {'created' if page.revision == 1 else 'changed'}"
             f" (version {page.revision}).", ""]
    if comment:
        lines += [comment, ""]
    lines.append(links.absolute(page_url(page.group, page.slug)))
    return "\n".join(lines) + "\n"


