"""A post to a group, by email or from the web: checked, archived, fanned out.

Both paths end in ``submit_post``; the web path only builds the MIME message
first (``compose``). So a rule added to policy.decide_post, or a header added
to the fan-out, applies to both at once.
"""

from __future__ import annotations

import logging
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from groups import accountemails
from groups.models import Group, Hashtag, Membership, Message, Topic
from messageserver import (
    archive,
    automated,
    dmarc,
    fanoutqueue,
    holding,
    hooks,
    outcomes,
    policy,
    polls,
    richpost,
    threader,
    webhookevents,
)
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome
from platformcore import mailheaders

log = logging.getLogger(__name__)


def is_loop(group: Group, inbound: InboundMail) -> bool:
    """Mail that already went through this group (its List-Id or our X-Loop)."""
    list_ids = " ".join(inbound.parsed.headers("List-Id")).lower()
    if f"<{group.list_id}>" in list_ids:
        return True
    loops = [v.lower() for v in inbound.parsed.headers("X-Loop")]
    return group.post_address.lower() in loops


def find_membership(group: Group, inbound: InboundMail) -> Membership | None:
    """The poster's membership, matched on the From address only.

    Never on the envelope sender: it is not what readers see as the author, so
    matching on it let anyone post as a member (archived under the member's
    name) while From named someone else. Any verified address of a member's
    account counts as that member (groups.accountemails, the one rule).
    """
    return accountemails.membership_for_address(group, inbound.parsed.from_email or "")


def submit_post(group: Group, inbound: InboundMail, source: str = Message.Source.EMAIL,
                membership: Membership | None = None) -> Outcome:
    if is_loop(group, inbound):
        return outcomes.dropped(f"loop: the message already carries {group.name}'s List-Id")
    if source == Message.Source.EMAIL:
        # Auto-responders and other lists' robots never post (mail loops stop here).
        why = automated.reason(inbound, for_post=True)
        if why:
            return outcomes.dropped(why)
    if len(inbound.raw) > group.max_message_size:
        return outcomes.rejected(
            f"message of {len(inbound.raw)} bytes exceeds {group.name}'s limit of "
            f"{group.max_message_size} bytes", status="5.3.4")
    problem = archive.attachment_problem(group, inbound.parsed.attachments)
    if problem:
        return outcomes.rejected(problem, status="5.7.1")
    parsed = inbound.parsed
    if parsed.message_id:
        # A retry of a message we already took (the 250 was lost on the way back):
        # answer as before, archive nothing twice.
        earlier = Message.objects.filter(group=group, message_id=parsed.message_id,
                                         sender_email=parsed.from_email).values_list(
            "number", flat=True).first()
        if earlier is not None:
            return outcomes.accepted(earlier, reason=f"duplicate of message #{earlier}")
    if membership is None:
        membership = find_membership(group, inbound)
    chain = threader.reference_chain(parsed.in_reply_to, parsed.references)
    topic = threader.find_topic(group, parsed.subject, chain, inbound.now)
    if source == Message.Source.EMAIL and topic is not None:
        counted = polls.vote_by_mail(
            topic, membership, parsed.text, inbound.now,
            authenticated=inbound.auth is None or inbound.auth.authenticated)
        if counted is not None:
            return counted
    tags = archive.post_hashtags(group, parsed.subject, topic, create=False)
    decision = policy.decide_post(group, membership, sender=parsed.from_email or "",
                                  topic=topic, hashtags=tags)
    if source == Message.Source.EMAIL and inbound.auth is not None and (
            not inbound.auth.authenticated):
        decision = policy.decide_unauthenticated(group, decision, inbound.auth.why_not())
    if decision.action == "discard":
        return outcomes.dropped(decision.reason)
    if decision.action == "reject":
        return outcomes.rejected(decision.reason)
    if decision.action == "hold":
        held = holding.hold(group, inbound, membership, decision.reason,
                            nonmember=decision.nonmember, source=source)
        return outcomes.held(decision.reason, held.id)
    if inbound.parsed.from_email:
        # Warm the DMARC cache outside the transaction: a slow DNS answer must not
        # hold the database's write lock (the fan-out reads the cached policy).
        dmarc.policy_for(inbound.parsed.from_email)
    with transaction.atomic():
        message = accept(group, inbound, membership, topic=topic, source=source,
                         nonmember=decision.nonmember)
    return outcomes.accepted(message.number)


def accept(group: Group, inbound: InboundMail, membership: Membership | None, *,
           topic: Topic | None, source: str, nonmember: bool = False) -> Message:
    """Archive and queue the fan-out (call inside a transaction)."""
    tags: list[Hashtag] = archive.post_hashtags(group, inbound.parsed.subject, topic,
                                                create=True)
    message = archive.archive(group, inbound.parsed, inbound.raw, membership=membership,
                              now=inbound.now, topic=topic, hashtags=tags, source=source,
                              nonmember=nonmember)
    # who gets it is fixed here; the jobs are built after the commit (fanoutcontinuation)
    count = fanoutqueue.queue_fanout(message, tags, bulk=group.bulk_delivery)
    log.info("archived %s #%s (%s), fan-out to %d", group.name, message.number, source, count)
    hooks.message_archived(message)
    webhookevents.message_posted(message)
    polls.attach(message)
    return message


def compose(group: Group, sender_email: str, sender_name: str, subject: str, text: str,
            html: str = "", reply_to: Message | None = None,
            attachments: list[tuple[str, str, bytes]] | None = None, *,
            inline: list[tuple[str, str, bytes, str]] | None = None,
            markdown: bool = False) -> bytes:
    """The MIME message a web post would have been, had it come by email.

    ``inline``: (filename, type, bytes, Content-ID) of images the HTML shows; they
    go into a multipart/related with it. ``markdown``: ``text`` is Markdown source
    (``richpost.MARKDOWN_HEADER`` says so, so the archive can offer it for editing).
    """
    msg = mailheaders.message()
    mailheaders.put(msg, "From", mailheaders.mailbox(sender_name, sender_email))
    mailheaders.put(msg, "To", group.post_address)
    mailheaders.put(msg, "Subject", subject)
    mailheaders.put(msg, "Date", format_datetime(timezone.now()))
    mailheaders.put(msg, "Message-ID", make_msgid(idstring="web", domain=settings.GROUPS_DOMAIN))
    if reply_to is not None:
        mailheaders.put(msg, "In-Reply-To", reply_to.message_id)
        mailheaders.put(msg, "References",
                        " ".join(filter(None, [reply_to.references, reply_to.message_id])))
    if markdown:
        mailheaders.put(msg, richpost.MARKDOWN_HEADER, "markdown")
    msg.set_content(text or "")
    if html:
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_payload()[1]
        for filename, ctype, data, cid in inline or []:
            maintype, _, subtype = ctype.partition("/")
            html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>",
                                  filename=filename, disposition="inline")
    for filename, ctype, data in attachments or []:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype or "application",
                           subtype=subtype or "octet-stream", filename=filename)
    return msg.as_bytes()
