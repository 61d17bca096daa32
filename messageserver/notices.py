"""Mail the platform writes about a group: held and rejected posts, welcomes, replies.

Each notice is a template under templates/email/ (subject on the first line,
body after a blank line) that a group owner can override with a
NoticeTemplate row of the same kind (welcome, goodbye, guidelines, held,
rejected, pending, help, restored, declined, ... : the template's file name). The
default texts are translated: each notice is written in its recipient's language
and time zone (groups.languages); an owner's wording is sent as written. Every
notice is queued in the outbox in the caller's
transaction and sent by Karl as a one-recipient job, so it is signed, spooled
and retried like any post.
"""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from django.conf import settings
from django.utils import timezone

from groups import languages, links, plaintext
from groups.models import Group, HeldMessage, Membership, NoticeTemplate
from messageserver import addresses, attachedmail, outbox
from platformcore import mailheaders


def render(kind: str, group: Group | None, context: dict[str, Any], *,
           wording: tuple[str, str] | None = None,
           reader: str | None = None) -> tuple[str, str]:
    """Subject and body of a notice, from the group's override or the default template.

    ``wording`` (subject, body) is an owner's unsaved text: the notices editor's
    preview renders it here, so the preview is exactly what the mail would say.
    ``reader`` is the address it goes to: the default text is written in that
    person's language and time zone (groups.languages); None renders in the active
    ones (the site's default outside a request). An owner's wording is sent as written.
    """
    if reader is not None:
        with languages.writing_to(reader):
            return render(kind, group, context, wording=wording)
    override = None
    if wording is not None:
        override = NoticeTemplate(kind=kind, subject=wording[0], body=wording[1])
    elif group is not None:
        override = NoticeTemplate.objects.filter(group=group, kind=kind).first()
    # plain text mail must not carry "&#x27;" for "'" (in the Subject least of all)
    if override is not None:
        subject = plaintext.render_string(override.subject, context)
        body = plaintext.render_string(override.body, context)
    else:
        text = plaintext.render_file(f"email/{kind}.txt", context)
        subject, _, body = text.partition("\n\n")
    return " ".join(subject.split()), body.strip() + "\n"


def build(group: Group | None, to: list[str], subject: str, body: str, *,
          from_addr: str | None = None, reply_to: str | None = None,
          attach: bytes | None = None, headers: dict[str, str] | None = None,
          auto_submitted: str = "auto-generated", in_reply_to: str = "") -> EmailMessage:
    """One notice; ``auto_submitted`` is "auto-replied" for answers to a person's mail
    (RFC 3834), which also names the mail answered in In-Reply-To/References."""
    msg = mailheaders.message()
    sender = from_addr or (group.address("owner") if group else f"noreply@{settings.GROUPS_DOMAIN}")
    put = mailheaders.put
    put(msg, "From", mailheaders.mailbox(group.display_title, sender) if group else sender)
    put(msg, "To", ", ".join(to))
    put(msg, "Subject", subject)
    put(msg, "Date", format_datetime(timezone.now()))
    put(msg, "Message-ID", make_msgid(idstring="notice", domain=settings.GROUPS_DOMAIN))
    put(msg, "Auto-Submitted", auto_submitted)
    put(msg, "Precedence", "bulk")
    if group is not None:
        put(msg, "X-Loop", group.address("owner"))
    if in_reply_to:
        put(msg, "In-Reply-To", in_reply_to)
        put(msg, "References", in_reply_to)
    if reply_to:
        put(msg, "Reply-To", reply_to)
    for name, value in (headers or {}).items():
        put(msg, name, value)
    msg.set_content(body)
    if attach is not None:
        attachedmail.attach_message(msg, attach, "held-message.eml")
    return msg


def queue(msg: EmailMessage, to: list[str], description: str,
          group: Group | None = None) -> None:
    """Queue one notice for Karl in the current transaction."""
    if not to:
        return
    job = {
        "message_b64": base64.b64encode(msg.as_bytes()).decode("ascii"),
        "mail_from": f"bounce@{settings.GROUPS_DOMAIN}",
        "recipients": [{"address": a} for a in to],
        "dkim": True,
        "meta": {"kind": "notice", "group": group.name if group else "",
                 "notice": description},
    }
    outbox.enqueue("job", job, description=description)


def common_reader(to: list[str]) -> str | None:
    """Whose language a notice to several addresses is written in: the one recipient's,
    else None (the site's default: one mail to many can't speak each one's language)."""
    return to[0] if len(to) == 1 else None


def moderators(group: Group) -> list[str]:
    return list(
        Membership.objects.filter(group=group, status=Membership.Status.ACTIVE,
                                  role__in=[Membership.Role.OWNER, Membership.Role.MODERATOR])
        .values_list("email", flat=True))


def moderation_addresses(held: HeldMessage) -> dict[str, str]:
    from groups import tokens

    token = tokens.make(tokens.MODERATE, held.id)
    g = held.group
    return {
        "approve_address": f"{g.name}+approve+{token}@{settings.GROUPS_DOMAIN}",
        "reject_address": f"{g.name}+reject+{token}@{settings.GROUPS_DOMAIN}",
        "approve_url": links.moderation_url(held.id, "approve"),
        "reject_url": links.moderation_url(held.id, "reject"),
    }


def message_held(held: HeldMessage) -> None:
    """Tell the moderators (the message attached), and the poster that it waits."""
    group = held.group
    addrs = moderation_addresses(held)
    ctx = {"group": group, "held": held, **addrs,
           "pending_url": links.group_url(group.name)}
    mods = moderators(group)
    for mod in mods:
        subject, body = render("held_moderator", group, ctx, reader=mod)
        msg = build(group, [mod], subject, body, reply_to=addrs["approve_address"],
                    attach=bytes(held.raw))
        queue(msg, [mod], f"{group.name}: held {held.id} for {mod}", group)
    if held.sender_email and not held.nonmember:
        subject, body = render("held", group, ctx, reader=held.sender_email)
        queue(build(group, [held.sender_email], subject, body), [held.sender_email],
              f"{group.name}: held {held.id} notice to poster", group)


def message_rejected(held: HeldMessage, reason: str) -> None:
    if not held.sender_email:
        return
    ctx = {"group": held.group, "held": held, "reason": reason}
    subject, body = render("rejected", held.group, ctx, reader=held.sender_email)
    queue(build(held.group, [held.sender_email], subject, body), [held.sender_email],
          f"{held.group.name}: rejected {held.id}", held.group)


def message_expired(held: HeldMessage) -> None:
    """Tell the poster their held message expired unapproved (members only: a non-member's
    held mail is often spam with a forged sender, and we must not send backscatter)."""
    if not held.sender_email or held.nonmember:
        return
    subject, body = render("expired", held.group, group_context(held.group, held=held),
                           reader=held.sender_email)
    queue(build(held.group, [held.sender_email], subject, body), [held.sender_email],
          f"{held.group.name}: expired {held.id}", held.group)


# --- membership notices and answers to email commands -------------------------------

def group_context(group: Group, **extra: Any) -> dict[str, Any]:
    """What every membership notice may use: the group, its addresses and its page."""
    return {
        "group": group,
        "group_url": links.group_url(group.name),
        "post_address": group.post_address,
        "owner_address": group.address("owner"),
        "subscribe_address": group.address("subscribe"),
        "unsubscribe_address": group.address("unsubscribe"),
        "help_address": group.address("help"),
        "request_address": group.address("request"),
        # one per delivery command: single_address, digest_address, plaindigest_address ...
        **{f"{word}_address": group.address(word) for word in addresses.DELIVERY_COMMANDS},
        "guidelines": group.guidelines.strip(),
        **extra,
    }


def send(kind: str, group: Group, to: str, description: str, *, answering: str = "",
         reply_to: str | None = None, from_addr: str | None = None,
         attach: bytes | None = None, **context: Any) -> EmailMessage:
    """Render ``kind`` for ``group`` and queue it to one address.

    ``answering`` is the Message-ID of the mail this answers: the notice is then
    marked Auto-Submitted: auto-replied (RFC 3834) rather than auto-generated.
    """
    subject, body = render(kind, group, group_context(group, **context), reader=to)
    msg = build(group, [to], subject, body, reply_to=reply_to, from_addr=from_addr,
                attach=attach, auto_submitted="auto-replied" if answering else "auto-generated",
                in_reply_to=answering)
    queue(msg, [to], f"{group.name}: {description}", group)
    return msg


def welcome(membership: Membership) -> None:
    """On joining: the welcome, with the group's guidelines when it has them."""
    send("welcome", membership.group, membership.email, f"welcome {membership.email}",
         membership=membership)


def goodbye(membership: Membership) -> None:
    send("goodbye", membership.group, membership.email, f"goodbye {membership.email}",
         membership=membership)


def membership_restored(membership: Membership, *, removed: bool) -> None:
    """The member used the restore link: welcome them back (``removed``: they had been
    removed, rather than only stopped from getting mail while it bounced)."""
    send("restored", membership.group, membership.email, f"restored {membership.email}",
         membership=membership, was_removed=removed)


def join_declined(membership: Membership, reason: str = "") -> None:
    """An owner declined the join request: tell the requester, with the owner's reason."""
    send("declined", membership.group, membership.email, f"declined {membership.email}",
         membership=membership, reason=reason.strip())


def subscription_pending(membership: Membership, answering: str = "") -> None:
    """A join request waits for the owners: tell the subscriber, and ask the owners."""
    group = membership.group
    send("pending", group, membership.email, f"pending {membership.email}",
         answering=answering, membership=membership)
    for owner in moderators(group):
        send("pending_owner", group, owner, f"join request {membership.email} for {owner}",
             membership=membership, members_url=links.group_url(group.name))


def guidelines_month(now) -> str:  # noqa: ANN001
    return now.strftime("%Y-%m")


def send_monthly_guidelines(now=None) -> int:  # noqa: ANN001
    """The monthly guidelines reminder, for groups that ask for it; returns mails queued.

    Idempotent per group and month: the queued notices themselves (their outbox
    description names the month) are the record, written in the same
    transaction, so a second run in the same month, or a run after a crash,
    sends nothing twice.
    """
    from django.db import transaction

    from groups.models import OutboxItem

    now = now or timezone.now()
    month = guidelines_month(now)
    count = 0
    groups = Group.objects.filter(guidelines_monthly=True).exclude(guidelines="")
    for group in groups:
        marker = f"{group.name}: guidelines {month}"
        with transaction.atomic():
            # hold the group while checking: a concurrent run waits, then sees our marker
            Group.objects.select_for_update().filter(pk=group.pk).exists()
            if OutboxItem.objects.filter(description__startswith=marker).exists():
                continue
            members = Membership.objects.filter(
                group=group, status=Membership.Status.ACTIVE,
                bounce_state=Membership.BounceState.OK).exclude(
                delivery=Membership.Delivery.NOMAIL).values_list("email", flat=True)
            for address in members:
                send("guidelines", group, address, f"guidelines {month} to {address}",
                     month=month)
                count += 1
    return count
