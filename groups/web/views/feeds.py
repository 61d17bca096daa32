"""The Atom feed of a public group's topics. Private and hidden groups have none (404)."""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.feedgenerator import Atom1Feed

from groups import links
from groups.models import Group
from groups.web.views.archive import topic_list

FEED_SIZE = 30
# Characters XML 1.0 cannot carry at all; a message may hold them (odd or broken MIME),
# and one of them in one post would otherwise make the whole feed a 500.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    return XML_ILLEGAL.sub("", value or "")


def group_feed(request: HttpRequest, group_name: str) -> HttpResponse:
    group = get_object_or_404(Group, name=group_name)
    if not group.archive_is_public:
        raise Http404("only public groups have a feed")
    feed = Atom1Feed(title=group.display_title, link=links.group_url(group.name),
                     description=group.description, language="en",
                     feed_url=links.absolute(request.path))
    topics = topic_list(group).order_by("-created_at", "-pk")[:FEED_SIZE]
    for t in topics:
        first = t.first_message
        feed.add_item(
            title=xml_text(t.subject), link=links.topic_url(group.name, t.pk),
            description=xml_text(first.body_text[:2000] if first else ""),
            author_name=xml_text(first.sender_name or "") if first else "",
            pubdate=t.created_at, updateddate=t.last_post_at,
            unique_id=links.topic_url(group.name, t.pk),
            categories=[xml_text(h.name) for h in t.hashtags.all()])
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    return response
