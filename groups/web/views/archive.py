"""Reading: the directory, a group's home, its topics, a topic, a message, attachments.

Every view goes through groups.web.access, so a hidden group or a members-only
archive is a 404 to anyone who may not read it. Lists are paginated and load
their related rows in a fixed number of queries, however long they grow.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from groups import links
from groups.models import Attachment, Group, Hashtag, Membership, Message, Topic
from groups.web import access, quoting
from groups.web.pages import paginate, paginate_keys_first

# Shown inline; anything else downloads, so an uploaded HTML file can't run as our page.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
                "application/pdf"}
TOPIC_PER_PAGE = 50  # messages on one page of a topic


def directory(request: HttpRequest) -> HttpResponse:
    """Listed groups only: a hidden group is absent here even for its own members."""
    groups = Group.objects.exclude(privacy=Group.Privacy.HIDDEN).order_by("name")
    page = paginate(request, groups)
    from groups.groupcreation import may_create

    # Logged out, the link leads to the login page and back (whether they may is known then).
    offer = not request.user.is_authenticated or may_create(request.user)
    return render(request, "groups/directory.html", {"page": page, "may_create_group": offer})


def topic_list(group, hashtag: Hashtag | None = None):
    """Topics sticky first, then by latest post; related rows fetched in bulk."""
    topics = (Topic.objects.filter(group=group)
              .select_related("last_message", "first_message")
              .prefetch_related(Prefetch("hashtags", queryset=Hashtag.objects.order_by("name")))
              .order_by("-sticky", "-last_post_at", "-pk"))
    if hashtag is not None:
        topics = topics.filter(hashtags=hashtag)
    return topics


def group_home(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.viewer(request, group_name)
    group = v.group
    members = Membership.objects.filter(group=group, status=Membership.Status.ACTIVE).count()
    topics = topic_list(group)[:10] if v.can_read_archive else []
    subgroups = Group.objects.filter(parent=group) if v.is_owner else (
        access.visible_groups(request.user).filter(parent=group))
    return render(request, "groups/group_home.html", {
        "v": v, "group": group, "member_count": members, "topics": topics,
        "subgroups": subgroups.order_by("name")})


def topics(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.reader(request, group_name)
    hashtag = None
    tag = request.GET.get("hashtag", "").lstrip("#").strip()
    if tag:
        hashtag = get_object_or_404(Hashtag, group=v.group, name__iexact=tag)
    # The list shows only who posted last: the bodies of the joined messages stay behind.
    topics = topic_list(v.group, hashtag).defer(
        "first_message__body_text", "first_message__body_html", "last_message__body_text",
        "last_message__body_html")
    page = paginate_keys_first(request, topics)
    return render(request, "groups/topics.html", {
        "v": v, "group": v.group, "page": page, "hashtag": hashtag,
        "hashtags": Hashtag.objects.filter(group=v.group)})


def topic(request: HttpRequest, group_name: str, topic_id: int) -> HttpResponse:
    v = access.reader(request, group_name)
    the_topic = get_object_or_404(Topic.objects.prefetch_related("hashtags"),
                                  group=v.group, pk=topic_id)
    messages = (Message.objects.filter(topic=the_topic, deleted=False)
                .prefetch_related("attachments").order_by("date", "number"))
    page = paginate_keys_first(request, messages, per_page=TOPIC_PER_PAGE)
    permalink = numbered_url("message", v.group.name)
    shown = [(m, quoting.segments(m.body_text), permalink(m.number)) for m in page]
    preference = None
    if v.is_member:
        preference = v.membership.topic_prefs.filter(topic=the_topic).values_list(
            "mode", flat=True).first()
    return render(request, "groups/topic.html", {
        "v": v, "group": v.group, "topic": the_topic, "page": page, "shown": shown,
        "preference": preference})


def numbered_url(viewname: str, group_name: str):
    """number -> URL of that numbered message's ``viewname`` (a topic page links 50)."""
    head, tail = links.around(viewname, group_name, last="987654321")
    return lambda number: f"{head}{int(number)}{tail}"


def message(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    v = access.reader(request, group_name)
    msg = get_object_or_404(
        Message.objects.select_related("topic").prefetch_related("attachments"),
        group=v.group, number=number, deleted=False)
    return render(request, "groups/message.html", {
        "v": v, "group": v.group, "message": msg, "segments": quoting.segments(msg.body_text)})


def attachment(request: HttpRequest, group_name: str, attachment_id: int,
               filename: str = "") -> FileResponse:
    """Serve an attachment only to readers of its group's archive, never by guessable URL."""
    v = access.reader(request, group_name)
    att = get_object_or_404(Attachment.objects.select_related("message"), pk=attachment_id,
                            message__group=v.group, message__deleted=False)
    root = Path(settings.ATTACHMENTS_DIR).resolve()
    path = (root / att.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("the attachment's file is missing")
    content_type = att.content_type or mimetypes.guess_type(att.filename)[0] or (
        "application/octet-stream")
    inline = content_type in INLINE_TYPES
    response = FileResponse(path.open("rb"), as_attachment=not inline, filename=att.filename,
                            content_type=content_type if inline else "application/octet-stream")
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
    return response
