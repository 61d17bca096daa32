"""Topics, messages, search and posting: read as the website's archive pages read, post
through messageserver's POST /v1/posts — the same rules as mail and the web form."""


from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError, ValidationError
from ninja.pagination import CursorPagination, paginate
from pydantic import Field

from groups import links
from groups.api import auth
from groups.api.groups import ERRORS
from groups.api.schemas import (
    NO_NUL,
    Error,
    MessageOut,
    NewTopic,
    PostResult,
    Reply,
    SearchPage,
    TopicDetail,
    TopicOut,
)
from groups.models import Group, Message, Topic
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable

router = Router(tags=["archive"])
OUR_NAMES = {"text": "body"}  # messageserver's field names, as this API calls them
TOPIC_MESSAGES = 200  # a topic's messages in one answer; longer topics: /messages?topic=


@router.get("/{group_name}/topics", response={200: list[TopicOut], **ERRORS},
            summary="List topics, latest first")
@paginate(CursorPagination, ordering=("-last_post_at", "-id"), page_size=50,
          max_page_size=200)
def list_topics(request: HttpRequest, group_name: str):  # noqa: ANN201
    v = auth.reader(request, group_name)
    return Topic.objects.filter(group=v.group).select_related("group")


@router.get("/{group_name}/topics/{topic_id}", response={200: TopicDetail, **ERRORS},
            summary="Get a topic with its messages")
def get_topic(request: HttpRequest, group_name: str, topic_id: int) -> dict:
    v = auth.reader(request, group_name)
    topic = get_object_or_404(Topic.objects.select_related("group"), group=v.group,
                              pk=topic_id)
    messages = (Message.objects.filter(topic=topic, deleted=False)
                .select_related("group").prefetch_related("attachments")
                .order_by("date", "number")[:TOPIC_MESSAGES])
    topic.shown_messages = list(messages)
    return topic


@router.get("/{group_name}/messages/{number}", response={200: MessageOut, **ERRORS},
            summary="Get one message by its number")
def get_message(request: HttpRequest, group_name: str, number: int) -> dict:
    v = auth.reader(request, group_name)
    msg = get_object_or_404(Message.objects.select_related("group")
                            .prefetch_related("attachments"),
                            group=v.group, number=number, deleted=False)
    return msg


def _post(request: HttpRequest, group_name: str, subject: str, body: str,
          reply_to: int | None) -> Status:
    auth.require_write(request)
    v = auth.viewer(request, group_name)
    if not v.can_post:
        raise PermissionDenied("Only members with posting rights post to this group.")
    try:
        result = MessageServerClient().post(v.group.name, v.membership.email, subject, body,
                                            reply_to_number=reply_to)
    except MessageServerUnavailable:
        raise HttpError(503, "The message server can't be reached right now; nothing was "
                             "posted. Try again in a minute.") from None
    except MessageServerError as exc:
        fields = exc.body.get("fields") or {}
        if fields:
            raise ValidationError([{"loc": ["body", OUR_NAMES.get(k, k)], "msg": str(p)}
                                   for k, p in fields.items()]) from None
        raise HttpError(exc.status if 400 <= exc.status < 500 else 409,
                        exc.body.get("reason") or exc.body.get("error") or str(exc)
                        ) from None
    outcome = result.get("outcome", "")
    return Status(201 if outcome == "accepted" else 202, {
        "outcome": outcome, "number": result.get("number"),
        "reason": result.get("reason") or ""})


@router.post("/{group_name}/topics", response={201: PostResult, 202: PostResult, 503: Error, **ERRORS},
             summary="Post a new topic")
def new_topic(request: HttpRequest, group_name: str, body: NewTopic) -> Status:
    """201 with the message's number when it went out; 202 when it is held for a
    moderator (or otherwise taken without a number)."""
    return _post(request, group_name, body.subject, body.body, None)


@router.post("/{group_name}/messages/{number}/replies",
             response={201: PostResult, 202: PostResult, 503: Error, **ERRORS}, summary="Reply to a message")
def reply(request: HttpRequest, group_name: str, number: int, body: Reply) -> Status:
    auth.reader(request, group_name)
    original = get_object_or_404(Message.objects.select_related("topic", "group"),
                                 group__name=group_name, number=number, deleted=False)
    subject = body.subject or "Re: " + original.topic.subject
    return _post(request, group_name, subject, body.body, original.number)


class SearchQuery(Schema):
    q: str = Field("", max_length=500, pattern=NO_NUL)
    group: str = Field("", max_length=64, pattern=NO_NUL)
    author: str = Field("", max_length=200, pattern=NO_NUL)
    hashtag: str = Field("", max_length=100, pattern=NO_NUL)
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int = Field(1, ge=1, le=50)
    per_page: int = Field(20, ge=1, le=100)


search_router = Router(tags=["archive"])


@search_router.get("/search", response={200: SearchPage, **ERRORS},
                   summary="Search the archives this user may read")
def search(request: HttpRequest, params: Query[SearchQuery]) -> dict:
    """Words (`q`), an author, a hashtag or dates, in every group the key's user may read
    or in one (`group`); nothing asked finds nothing."""
    import search as engine

    groups = None
    only = auth.allowed_group_ids(request)
    if params.group:
        auth.reader(request, params.group)
        groups = [params.group]
    elif only is not None:
        groups = [only]
    found = engine.query(request.user, params.q, groups=groups,
                         hashtag=params.hashtag or None, author=params.author or None,
                         date_from=params.date_from, date_to=params.date_to,
                         page=params.page, per_page=params.per_page)
    titles = dict(Group.objects.filter(name__in={h.group for h in found.hits})
                  .values_list("name", "title"))
    return {"total": found.total, "page": params.page, "per_page": params.per_page,
            "results": [{
                "group": h.group, "group_title": titles.get(h.group) or h.group,
                "number": h.number, "topic_id": h.topic_id, "subject": h.subject,
                "author": h.author, "date": h.date, "snippet_html": str(h.snippet_html),
                "url": links.message_url(h.group, h.number)} for h in found.hits]}

