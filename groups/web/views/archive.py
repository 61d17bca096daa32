"""Reading: the directory, a group's home, its topics, a topic, a message, attachments.

Every view goes through groups.web.access, so a hidden group or a members-only
archive is a 404 to anyone who may not read it. Lists are paginated and load
their related rows in a fixed number of queries, however long they grow.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Case, Count, Exists, F, Max, OuterRef, Prefetch, Q, When
from django.db.models.functions import Lower
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from groups import links, readstate
from groups.models import Attachment, Group, Hashtag, Membership, Message, Topic
from groups.visibility import directory_groups, member_group_ids
from groups.web import access, quoting, threads
from groups.web.forms import DirectoryForm
from groups.web.pages import paginate, paginate_keys_first
from messageserver import edits

# Shown inline; anything else downloads, so an uploaded HTML file can't run as our page.
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
                "application/pdf"}
TOPIC_PER_PAGE = 50  # messages on one page of a topic


def directory(request: HttpRequest) -> HttpResponse:
    """Listed groups, searchable and filtered; a hidden group only for its own members.

    One query for the page of groups (member counts and the viewer's own
    memberships joined in as annotations), however many groups it shows.
    """
    user = request.user
    form = DirectoryForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    groups = directory_groups(user).annotate(
        member_count=Count("memberships", filter=Q(
            memberships__status=Membership.Status.ACTIVE), distinct=True))
    mine = member_group_ids(user) if user.is_authenticated else None
    if mine is not None:
        groups = groups.annotate(i_am_member=Exists(mine.filter(group_id=OuterRef("pk"))))
    for word in (data.get("q") or "").split()[:10]:
        groups = groups.filter(Q(name__icontains=word) | Q(title__icontains=word)
                               | Q(description__icontains=word))
    if data.get("privacy") == "public":
        groups = groups.filter(privacy=Group.Privacy.PUBLIC)
    elif data.get("privacy") == "private":
        groups = groups.exclude(privacy=Group.Privacy.PUBLIC)
    show = data.get("show")
    if show == DirectoryForm.Show.MINE:
        groups = groups.filter(pk__in=mine) if mine is not None else groups.none()
    elif show == DirectoryForm.Show.JOINABLE:
        groups = groups.exclude(join_policy=Group.JoinPolicy.INVITE).filter(suspended=False)
        if mine is not None:
            groups = groups.exclude(pk__in=mine)
    by_title = Lower(Case(When(title="", then=F("name")), default=F("title")))
    order = {"newest": ("-created_at", by_title), "members": ("-member_count", by_title),
             "active": (F("last_post_at").desc(nulls_last=True), by_title)}.get(
        data.get("sort") or "", (by_title, "name"))
    if data.get("sort") == "active":
        groups = groups.annotate(last_post_at=Max("topics__last_post_at"))
    page = paginate(request, groups.order_by(*order))
    params = request.GET.copy()
    params.pop("page", None)
    from groups.groupcreation import may_create

    # Logged out, the link leads to the login page and back (whether they may is known then).
    offer = not user.is_authenticated or may_create(user)
    return render(request, "groups/directory.html", {
        "page": page, "may_create_group": offer, "form": form, "extra": params.urlencode(),
        "searched": any(data.get(k) for k in ("q", "privacy", "show"))})


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
    topics = readstate.annotate_unread(list(topic_list(group)[:10]), request.user) if (
        v.can_read_archive) else []
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
    readstate.annotate_unread(page.object_list, request.user)
    return render(request, "groups/topics.html", {
        "v": v, "group": v.group, "page": page, "hashtag": hashtag,
        "hashtags": Hashtag.objects.filter(group=v.group)})


@dataclass
class Shown:
    """One message as a topic page draws it."""

    message: Message
    segments: list
    permalink: str
    depth: int = 0  # threaded: how far to indent
    parent_number: int | None = None  # threaded: the message this one answers
    first_new: bool = False


def topic(request: HttpRequest, group_name: str, topic_id: int) -> HttpResponse:
    """A topic, flat (by date) or threaded (the reply tree); marks what was new.

    The first message the person had not seen at their last visit carries an
    anchor, and the page offers a jump to it; the visit is then recorded with
    one upsert (groups.readstate).
    """
    v = access.reader(request, group_name)
    the_topic = get_object_or_404(Topic.objects.prefetch_related("hashtags"),
                                  group=v.group, pk=topic_id)
    layout = readstate.topic_layout(request)
    alive = Message.objects.filter(topic=the_topic, deleted=False)
    if layout == readstate.ReaderSettings.Layout.THREADED:
        previous = readstate.last_read(request.user, the_topic)
        page, placed, first_new, first_new_page = _threaded_page(request, alive, previous)
    else:
        page = paginate_keys_first(request, alive.prefetch_related("attachments")
                                   .order_by("date", "number"), per_page=TOPIC_PER_PAGE)
        placed = [(m, 0, None) for m in page]
        first_new, first_new_page = _first_new_flat(request.user, alive)
    permalink = numbered_url("message", v.group.name)
    shown = [Shown(m, quoting.segments(m.body_text), permalink(m.number), threads.indent(depth),
                   parent, m.number == first_new) for m, depth, parent in placed]
    if shown:
        readstate.mark_read(request.user, the_topic, max(s.message.number for s in shown))
    editable = _editable(v, [s.message for s in shown], the_topic)
    preference = None
    if v.is_member:
        preference = v.membership.topic_prefs.filter(topic=the_topic).values_list(
            "mode", flat=True).first()
    return render(request, "groups/topic.html", {
        "v": v, "group": v.group, "topic": the_topic, "page": page, "shown": shown,
        "preference": preference, "editable": editable, "layout": layout,
        "first_new": first_new,
        "first_new_page": first_new_page,
        "extra": f"layout={layout}" if "layout" in request.GET else ""})


def _first_new_flat(user, alive) -> tuple[int | None, int | None]:
    """(number, page) of the first message after the last visit, in date order."""
    found = readstate.first_unread(user, alive)
    if found is None:
        return None, None
    number, before = found
    return number, before // TOPIC_PER_PAGE + 1


def _threaded_page(request: HttpRequest, alive, previous: int | None):
    """The page of the reply tree asked for: the tree from header rows, then that page's rows."""
    rows = [threads.Row(**r) for r in alive.values(
        "pk", "number", "date", "message_id", "in_reply_to", "references")]
    numbers = {r.pk: r.number for r in rows}
    order = threads.thread(rows)
    page = paginate(request, order, per_page=TOPIC_PER_PAGE)
    loaded = {m.pk: m for m in alive.filter(pk__in=[p.pk for p in page])
              .prefetch_related("attachments")}
    placed = [(loaded[p.pk], p.depth, numbers.get(p.parent_pk)) for p in page if p.pk in loaded]
    first_new = first_new_page = None
    if previous is not None:
        for i, p in enumerate(order):
            if numbers[p.pk] > previous:
                first_new, first_new_page = numbers[p.pk], i // TOPIC_PER_PAGE + 1
                break
    return page, placed, first_new, first_new_page


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
        "v": v, "group": v.group, "message": msg, "segments": quoting.segments(msg.body_text),
        "may_edit": bool(_editable(v, [msg], msg.topic))})


def _editable(v: access.Viewer, shown: list[Message], topic: Topic) -> set[int]:
    """Numbers of the shown messages the viewer may edit now (messageserver.edits' rule)."""
    if not v.is_member:
        return set()
    now = timezone.now()
    out = set()
    for m in shown:
        if m.membership_id != v.membership.pk:
            continue
        m.group, m.topic, m.membership = v.group, topic, v.membership  # no query per message
        if not edits.refusal(m, v.membership, now):
            out.add(m.number)
    return out


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


def message_history(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    """Every version of an edited message, newest first: who may read it may see them."""
    v = access.reader(request, group_name)
    msg = get_object_or_404(Message.objects.select_related("topic").prefetch_related(
        "attachments", "revisions"), group=v.group, number=number, deleted=False)
    return render(request, "groups/message_history.html", {
        "v": v, "group": v.group, "message": msg,
        "revisions": list(reversed(msg.revisions.all()))})
