"""What the API's JSON looks like: one schema per shape, shared by every endpoint."""


import zoneinfo
from datetime import datetime
from typing import Literal

from django.urls import reverse
from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field

from groups import links
from groups.groupcreation import NAME_RE, STYLES
from groups.models import Attachment, Group, Membership, Message, Topic

Role = Literal["member", "moderator", "owner"]
Delivery = Literal[tuple(Membership.Delivery.values)]  # type: ignore[valid-type]
PostingStatus = Literal[tuple(Membership.PostingStatus.values)]  # type: ignore[valid-type]
Status = Literal[tuple(Membership.Status.values)]  # type: ignore[valid-type]

NO_NUL = r"^[^\x00]*$"  # Django refuses NUL in every text field (and so do we)
SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"  # and a required one needs more than spaces


class Input(Schema):
    """A request body: a field this API doesn't know is an error naming it (a typo such as
    "delivry" must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """A response with no computed fields (no ``resolve_…``), read from dicts or rows alike.

    Plain pydantic, not ninja's Schema: ninja wraps every object it validates in a
    Python getter, which for a page of a thousand members cost more than the query.
    A shape that needs a resolver stays a Schema.
    """

    model_config = ConfigDict(from_attributes=True)


TIME_ZONES = tuple(sorted(zoneinfo.available_timezones()))


class Error(Schema):
    """Every error: what went wrong, and for bad input the fields and their problems."""

    detail: str
    fields: dict[str, str] = Field(default_factory=dict)


class GroupOut(Schema):
    name: str
    title: str
    description: str
    privacy: str
    join_policy: str
    posting_policy: str
    address: str
    url: str
    created_at: datetime

    @staticmethod
    def resolve_title(g: Group) -> str:
        return g.display_title

    @staticmethod
    def resolve_address(g: Group) -> str:
        return g.post_address

    @staticmethod
    def resolve_url(g: Group) -> str:
        return links.group_url(g.name)


class GroupDetail(GroupOut):
    member_count: int
    topic_count: int
    your_role: str | None = None
    your_status: str | None = None


class GroupCreate(Input):
    name: str = Field(pattern=NAME_RE.pattern, description=(
        "The group's address: NAME@ the site's mail domain. Lower-case letters, digits, "
        "hyphens and underscores; a few names (admin, postmaster …) are reserved."))
    title: str = Field(max_length=200, pattern=SOME_TEXT)
    description: str = Field("", pattern=NO_NUL)
    style: Literal[tuple(STYLES)] = "discussion"  # type: ignore[valid-type]


class MemberOut(Output):
    id: int
    email: str
    display_name: str
    role: str
    status: str
    delivery: str
    posting_status: str
    joined_at: datetime
    bounce_state: str
    bounce_score: float


# An address as Django's validate_email takes it (a dot-atom local part; a domain of
# letter-digit-hyphen labels ending in a letters-only top-level label).
EMAIL_PATTERN = (r"^[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
                 r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


class MemberAdd(Input):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN,
                       json_schema_extra={"format": "email"})
    display_name: str = Field("", max_length=150, pattern=NO_NUL)
    delivery: Delivery = "individual"  # type: ignore[valid-type]
    invite: bool = Field(False, description="Send an invitation instead of adding directly "
                                            "(moderators can only invite).")


class MemberUpdate(Input):
    display_name: str | None = Field(None, max_length=150, pattern=NO_NUL)
    role: Role | None = None
    delivery: Delivery | None = None  # type: ignore[valid-type]
    posting_status: PostingStatus | None = None  # type: ignore[valid-type]


class Reason(Input):
    reason: str = Field("", max_length=500, pattern=NO_NUL)


class AttachmentOut(Schema):
    filename: str
    content_type: str
    size: int
    url: str

    @staticmethod
    def resolve_url(a: Attachment) -> str:
        return links.absolute(reverse("attachment", urlconf=links.WEB,
                                      args=[a.message.group.name, a.pk, a.filename]))


class MessageOut(Schema):
    """A message as the archive shows it (select_related("group"), with attachments)."""

    number: int
    topic_id: int
    subject: str
    sender_name: str
    date: datetime
    body_text: str
    body_html: str
    url: str
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_sender_name(m: Message) -> str:
        return m.sender_name or m.sender_email.split("@")[0]

    @staticmethod
    def resolve_url(m: Message) -> str:
        return links.message_url(m.group.name, m.number)

    @staticmethod
    def resolve_attachments(m: Message) -> list:
        return list(m.attachments.all())


class TopicOut(Schema):
    """A topic (select_related("group"))."""

    id: int
    subject: str
    message_count: int
    created_at: datetime
    last_post_at: datetime
    locked: bool
    sticky: bool
    url: str

    @staticmethod
    def resolve_url(t: Topic) -> str:
        return links.topic_url(t.group.name, t.pk)


class TopicDetail(TopicOut):
    messages: list[MessageOut]

    @staticmethod
    def resolve_messages(t: Topic) -> list:
        return t.shown_messages  # set by the endpoint: the first TOPIC_MESSAGES


# What messageserver takes in a post (messageserver/api.py, web_post): a subject on one
# line, a body with something besides white space, and no NUL anywhere.
SUBJECT_PATTERN = r"^[^\x00\r\n]*[^\s\x00][^\x00\r\n]*$"
BODY_PATTERN = SOME_TEXT


class NewTopic(Input):
    subject: str = Field(max_length=500, pattern=SUBJECT_PATTERN)
    body: str = Field(pattern=BODY_PATTERN, description="Plain text.")


class Reply(Input):
    body: str = Field(pattern=BODY_PATTERN, description="Plain text.")
    subject: str = Field("", max_length=500, pattern=f"^$|{SUBJECT_PATTERN}",
                         description="Empty: Re: the topic's subject.")


class PostResult(Output):
    outcome: str = Field(description="accepted, held (waiting for a moderator) or another "
                                     "outcome of the group's rules")
    number: int | None = None
    reason: str = ""


class SearchHit(Output):
    group: str
    group_title: str
    number: int
    topic_id: int
    subject: str
    author: str
    date: datetime
    snippet_html: str
    url: str


class SearchPage(Output):
    total: int
    page: int
    per_page: int
    results: list[SearchHit]


class HeldOut(Output):
    id: int
    subject: str
    sender_email: str
    reason: str
    nonmember: bool
    created_at: datetime
    expires_at: datetime


class Decision(Input):
    action: Literal["approve", "approve_unmoderate", "reject", "discard"]
    reason: str = Field("", max_length=2000, pattern=NO_NUL,
                        description="Sent to the poster with a rejection.")


class Profile(Output):
    username: str
    email: str
    display_name: str
    time_zone: str


class ProfileUpdate(Input):
    display_name: str | None = Field(None, max_length=150, pattern=NO_NUL)
    time_zone: Literal[TIME_ZONES] | None = Field(  # type: ignore[valid-type]
        None, description="An IANA zone name such as Europe/Paris.")


class Subscription(Output):
    group: str
    group_title: str
    email: str
    role: str
    status: str
    delivery: str
