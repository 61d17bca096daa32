"""Build the Karl job that delivers an archived message to its recipients.

Who gets a copy (delivery mode, bounce state, mutes, follows, hashtags) is
decided here by one query (``recipient_query``), which the archive transaction
runs once as the post's snapshot; the jobs are built from it after smtpd's 250
(messageserver.fanoutcontinuation). A job carries one footer template and each
recipient's own links, and Karl renders and signs each copy. Where the poster's domain publishes DMARC
p=quarantine or p=reject (messageserver.dmarc), or the group says "always",
From becomes "Name via GROUP <GROUP@domain>"; the original's DKIM and ARC
signatures never reach a recipient, since every copy is changed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from groups import links, tokens
from groups.models import (
    Group,
    Hashtag,
    HashtagPreference,
    Membership,
    Message,
    TopicPreference,
    member_name,
)
from messageserver import dmarc
from platformcore import mailheaders

DEFAULT_FOOTER = """\
-=-=-=-=-=-=-=-=-=-=-=-
Groups.io-style links for {{ group_name }}:
View/Reply Online (#{{ number }}): {{ message_url }}
Reply to the group or the sender: {{ reply_url }}
Mute This Topic: {{ mute_url }}
Group Owner: {{ owner_address }}
Unsubscribe: {{ unsubscribe_url }}
-=-=-=-=-=-=-=-=-=-=-=-
"""

# Headers of the original that must not reach recipients: signatures we
# invalidate by changing the message (DKIM, DomainKeys, the ARC chain, whose
# seal would now fail), envelope leftovers, and the list headers we set anew.
REMOVE_HEADERS = ["DKIM-Signature", "DomainKey-Signature", "ARC-Seal",
                  "ARC-Message-Signature", "ARC-Authentication-Results",
                  "Return-Path", "Delivered-To", "X-Original-To",
                  "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "List-Post",
                  "List-Help", "List-Archive", "List-Subscribe", "List-Owner", "Precedence",
                  "Sender", "X-Loop"]


def tagged_subject(group: Group, subject: str) -> str:
    tag = group.subject_tag.strip()
    if not tag:
        return subject
    bracket = tag if tag.startswith("[") else f"[{tag}]"
    if bracket.lower() in subject.lower():
        return subject
    return f"{bracket} {subject}"


def reply_to(group: Group, sender: str) -> str:
    policy = group.reply_to
    if policy == Group.ReplyTo.SENDER:
        return sender
    if policy == Group.ReplyTo.MODERATORS:
        return group.address("owner")
    if policy == Group.ReplyTo.GROUP_AND_SENDER:
        return f"{group.post_address}, {sender}"
    return group.post_address


def rewrites_from(group: Group, sender: str) -> bool:
    """Whether our copy must carry the group's From rather than the poster's (DMARC).

    "always" and "never" are the owner's word; "auto" asks the poster's domain,
    and rewrites when the DNS could not answer too: a rewritten From always
    delivers, an unrewritten one from a p=reject domain would bounce.
    """
    if group.dmarc_handling == Group.DmarcHandling.ALWAYS:
        return True
    if group.dmarc_handling == Group.DmarcHandling.NEVER or not sender:
        return False
    policy = dmarc.policy_for(sender)
    return policy.strict or policy.policy == "temperror"


def rewritten_from(group: Group, sender_name: str, sender: str) -> str:
    """Groups.io's "Name via GROUP <GROUP@domain>" (text; ``headers`` folds it)."""
    name = mailheaders.clean(sender_name or sender.split("@", 1)[0])
    return mailheaders.mailbox(f"{name} via {group.name}", group.post_address)


def headers(pairs: list[tuple[str, str]]) -> list[list[str]]:
    """Karl job headers from (name, text): each value folded by mailheaders, the one way."""
    return [[name, mailheaders.value(name, text)] for name, text in pairs]


def list_headers(group: Group) -> list[list[str]]:
    """The List-* headers of RFC 2369/2919, the same on every copy."""
    title = mailheaders.clean(group.display_title).replace('"', "")
    return headers([
        ("List-Id", f"{title} <{group.list_id}>"),
        ("List-Post", f"<mailto:{group.post_address}>"),
        ("List-Help", f"<mailto:{group.address('help')}>"),
        ("List-Subscribe", f"<mailto:{group.address('subscribe')}>"),
        ("List-Owner", f"<mailto:{group.address('owner')}>"),
        ("List-Archive", f"<{links.group_url(group.name)}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "list"),
        ("Sender", group.post_address),
        ("X-Loop", group.post_address),
    ])


def unsubscribe_header(group: Group, membership_id: int, url: str | None = None) -> str:
    """List-Unsubscribe (RFC 2369/8058); pass ``url`` when it was already built."""
    url = url or links.unsubscribe_url(membership_id)
    return mailheaders.value_around("List-Unsubscribe",
                                    f"<mailto:{group.address('unsubscribe')}>, <", url, ">")


def bounce_address(membership_id: int, number: int) -> str:
    """The VERP envelope sender: bounces to it name the member and the message."""
    token = tokens.make(tokens.BOUNCE, membership_id, number)
    return f"bounce+{token}@{settings.GROUPS_DOMAIN}"


def recipient_query(message: Message, hashtags: list[Hashtag]) -> QuerySet[Membership]:
    """Members who get this message by individual email, as one SQL query.

    One query, so the fan-out's snapshot of who gets a post is written by one
    INSERT ... SELECT in the archive transaction (messageserver.fanoutcontinuation)
    with no Python per member. The rule: active, delivery "individual" (and
    "special notices" for a special notice), not bouncing; then, unless it is a
    special notice, not muted (the topic muted, or one of its hashtags muted
    while the topic is not followed) and, for members who take followed topics
    only, followed (the topic or one of its hashtags), or the first message of
    its topic for "followed and first".
    """
    if any(tag.no_email for tag in hashtags):
        return Membership.objects.none()
    modes = [Membership.Delivery.INDIVIDUAL]
    special = any(tag.special_notice for tag in hashtags)
    if special:
        modes.append(Membership.Delivery.SPECIAL)
    query = Membership.objects.filter(
        group=message.group, status=Membership.Status.ACTIVE, delivery__in=modes,
        bounce_state=Membership.BounceState.OK)
    if special:  # special notices reach everybody who takes mail
        return query
    topic_mode = Coalesce(Subquery(TopicPreference.objects.filter(
        topic_id=message.topic_id, membership_id=OuterRef("pk")).values("mode")[:1]),
        Value(""))
    query = query.alias(topic_mode=topic_mode)
    followed = Q(topic_mode=TopicPreference.Mode.FOLLOW)
    muted = Q(topic_mode=TopicPreference.Mode.MUTE)
    if hashtags:
        def tag_pref(mode: str) -> Exists:
            return Exists(HashtagPreference.objects.filter(
                hashtag__in=hashtags, membership_id=OuterRef("pk"), mode=mode))

        query = query.alias(tag_mute=tag_pref(TopicPreference.Mode.MUTE),
                            tag_follow=tag_pref(TopicPreference.Mode.FOLLOW))
        followed |= Q(tag_follow=True)
        muted |= Q(tag_mute=True) & ~Q(topic_mode=TopicPreference.Mode.FOLLOW)
    first_of_topic = message.topic.first_message_id in (None, message.id)
    takes = ~Q(message_selection__in=[Membership.Selection.FOLLOWED,
                                      Membership.Selection.FOLLOWED_AND_FIRST]) | followed
    if first_of_topic:
        takes |= Q(message_selection=Membership.Selection.FOLLOWED_AND_FIRST)
    return query.filter(takes).exclude(muted)


class Recipient(NamedTuple):
    """A member as a job needs them: read as a row, not a model instance (five times
    cheaper for a 5,000-recipient slice). Every job is built from these."""

    id: int
    email: str
    name: str


def recipient_rows(memberships: QuerySet[Membership]) -> list[Recipient]:
    """``memberships`` in id order as ``Recipient`` rows (``member_name``'s naming rule)."""
    return [Recipient(pk, email, member_name(display_name, user_name, email))
            for pk, email, display_name, user_name in memberships.order_by("id").values_list(
                "id", "email", "display_name", "user__display_name")]


def recipients(message: Message, hashtags: list[Hashtag]) -> list[Recipient]:
    """The members of ``recipient_query`` as a job needs them (``recipient_rows``), in id order."""
    return recipient_rows(recipient_query(message, hashtags))


def footer_vars(message: Message) -> dict[str, Any]:
    """The footer's variables that are the same for every member (bulk jobs use only these)."""
    group = message.group
    return {
        "group_name": group.name,
        "group_title": group.display_title,
        "group_url": links.group_url(group.name),
        "owner_address": group.address("owner"),
        "number": message.number,
        "subject": message.subject,
        "message_url": links.message_url(group.name, message.number),
        "reply_url": links.reply_url(group.name, message.number),
        "topic_url": links.topic_url(group.name, message.topic_id),
    }


def b64(raw: bytes) -> str:
    """A message's bytes as a Karl job carries them (``message_b64``)."""
    return base64.b64encode(raw).decode("ascii")


def build_job(message: Message, raw: bytes, members: Sequence[Recipient],
              extra_headers: list[list[str]] | None = None, *, subject: str | None = None,
              kind: str = "post") -> dict[str, Any]:
    """Karl's job for ``raw`` to ``members``; ``subject`` (default the message's) and
    ``kind`` ("post", or "edit" for the correction of an edited post, messageserver.edits)
    let one message's later mail reuse its headers and footer links."""
    group = message.group
    sender = message.sender_email
    job_headers = list_headers(group) + headers([
        ("Subject", tagged_subject(group, message.subject if subject is None else subject)),
        ("Reply-To", reply_to(group, sender)),
    ])
    if rewrites_from(group, sender):
        job_headers += headers([("From", rewritten_from(group, message.sender_name, sender))])
    job_headers += headers([(name, text) for name, text in extra_headers or []])
    # Karl's contract: remove_headers go first, then headers are added; every
    # header we set is removed from the original so no copy carries two.
    remove = list(dict.fromkeys(REMOVE_HEADERS + [name for name, _ in job_headers]))
    common = footer_vars(message)
    rcpts = []
    for m in members:
        unsubscribe = links.unsubscribe_url(m.id)  # signed once, used in header and footer
        rcpts.append({
            "address": m.email,
            "mail_from": bounce_address(m.id, message.number),
            "headers": [["List-Unsubscribe", unsubscribe_header(group, m.id, unsubscribe)]],
            "vars": {  # the shared ones are the job's (Karl merges them, a recipient's win)
                "name": m.name,
                "email": m.email,
                "unsubscribe_url": unsubscribe,
                "mute_url": links.mute_topic_url(m.id, message.topic_id),
            },
        })
    return {
        "message_b64": b64(raw),
        "mail_from": f"bounce@{settings.GROUPS_DOMAIN}",
        "remove_headers": remove,
        "headers": job_headers,
        "footer": {"text": group.footer_template or DEFAULT_FOOTER},
        "vars": common,
        "recipients": rcpts,
        "dkim": True,
        # failures one by one (bounce handling), and one "finished" summary per job for
        # the message's delivery report (deliveryevents.record_summary)
        # (a correction's summary would count twice in its post's report: none for it)
        "events": ["bounced", "expired"] + (["finished"] if kind == "post" else []),
        "meta": {"group": group.name, "number": message.number, "kind": kind},
    }
