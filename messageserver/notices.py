"""Mail the platform writes about a group: held and rejected posts, welcomes, replies.

Each notice is a template under templates/email/ (subject on the first line,
body after a blank line) that a group owner can override with a
NoticeTemplate row. Every notice is queued in the outbox in the caller's
transaction and sent by Karl as a one-recipient job, so it is signed, spooled
and retried like any post.
"""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from django.conf import settings
from django.template import Context, Engine, Template
from django.utils import timezone

from groups import links
from groups.env import PROJECT_DIR
from groups.models import Group, HeldMessage, Membership, NoticeTemplate
from messageserver import outbox

# Plain-text mail must not be HTML-escaped: a separate engine with autoescape off.
_ENGINE = Engine(dirs=[str(PROJECT_DIR / "templates")], autoescape=False)


def render(kind: str, group: Group | None, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of a notice, from the group's override or the default template."""
    override = None
    if group is not None and kind in NoticeTemplate.Kind.values:
        override = NoticeTemplate.objects.filter(group=group, kind=kind).first()
    if override is not None:
        subject = Template(override.subject, engine=_ENGINE).render(Context(context))
        body = Template(override.body, engine=_ENGINE).render(Context(context))
    else:
        text = _ENGINE.get_template(f"email/{kind}.txt").render(Context(context))
        subject, _, body = text.partition("\n\n")
    return " ".join(subject.split()), body.strip() + "\n"


def build(group: Group | None, to: list[str], subject: str, body: str, *,
          from_addr: str | None = None, reply_to: str | None = None,
          attach: bytes | None = None, headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    sender = from_addr or (group.address("owner") if group else f"noreply@{settings.GROUPS_DOMAIN}")
    msg["From"] = formataddr((group.display_title if group else "", sender)) if group else sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    msg["Message-ID"] = make_msgid(idstring="notice", domain=settings.GROUPS_DOMAIN)
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "bulk"
    if reply_to:
        msg["Reply-To"] = reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if attach is not None:
        msg.add_attachment(attach, maintype="message", subtype="rfc822",
                           filename="held-message.eml")
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
    subject, body = render("held_moderator", group, ctx)
    mods = moderators(group)
    for mod in mods:
        msg = build(group, [mod], subject, body, reply_to=addrs["approve_address"],
                    attach=bytes(held.raw))
        queue(msg, [mod], f"{group.name}: held {held.id} for {mod}", group)
    if held.sender_email and not held.nonmember:
        subject, body = render("held", group, ctx)
        queue(build(group, [held.sender_email], subject, body), [held.sender_email],
              f"{group.name}: held {held.id} notice to poster", group)


def message_rejected(held: HeldMessage, reason: str) -> None:
    if not held.sender_email:
        return
    ctx = {"group": held.group, "held": held, "reason": reason}
    subject, body = render("rejected", held.group, ctx)
    queue(build(held.group, [held.sender_email], subject, body), [held.sender_email],
          f"{held.group.name}: rejected {held.id}", held.group)
