"""Moderation by reply: ``NAME+approve+TOKEN@`` and ``NAME+reject+TOKEN@``.

A held-message notice goes to each moderator with Reply-To the approve
address; replying approves, writing to the reject address rejects with the
first lines of the reply (quoted text stripped) as the reason. Two checks,
both required: TOKEN is groups.tokens' MODERATE signature of the held
message's id (so the address can't be guessed), and the sender is an owner or
moderator of that group, authenticated (messageserver.senderauth: SPF or DKIM
aligned with the From domain), so a leaked notice plus a forged From isn't
enough: an unauthenticated reply changes nothing and the moderator is told to
decide on the web or from a mail system that authenticates. Anything wrong is
answered with a clear notice; automated mail (a moderator's vacation
responder answering the notice!) is never acted on.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from groups import links, tokens
from groups.models import Group, HeldMessage, Membership
from messageserver import automated, moderation, notices, outcomes, senderauth
from messageserver.addresses import Destination
from messageserver.commands import may_answer, sender_of
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome

MAX_REASON_LINES = 10
MAX_REASON_CHARS = 2000
# Where the quoted original starts in common mail clients.
_ATTRIBUTION = re.compile(
    r"^(on\s.+\bwrote:|.*\bwrote:$|-{2,}\s*original message\s*-{2,}|_{10,}|"
    r"(from|von|de):\s.+@.+|am\s.+\bschrieb\b.*:|le\s.+\ba écrit\s*:)$",
    re.IGNORECASE)


def reply_reason(text: str) -> str:
    """The moderator's own words: the reply's first lines, before quotes and signature."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or _ATTRIBUTION.match(stripped) or line.rstrip() == "--":
            if stripped.lower().endswith("wrote:") and lines and lines[-1].lower().startswith(
                    "on "):
                lines.pop()  # "On Mon, ... <x@y>\nwrote:" split over two lines
            break
        if line.rstrip() in ("-- ", "--"):
            break
        lines.append(stripped)
    while lines and not lines[0]:
        lines.pop(0)
    lines = lines[:MAX_REASON_LINES]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)[:MAX_REASON_CHARS]


def _refuse(group: Group, inbound: InboundMail, dest: Destination, sender: str,
            reason: str) -> Outcome:
    """Answer the moderator why nothing was done; ``reason`` is lazy (format_lazy), so it is
    written in the moderator's language (messageserver.notices.render's reader)."""
    address = f"{group.name}+{dest.command}+{dest.token}@{settings.GROUPS_DOMAIN}"
    if may_answer(sender):
        notices.send("moderation_refused", group, sender, f"moderation refused for {sender}",
                     answering=inbound.parsed.message_id or "", address=address,
                     reason=reason)
    return outcomes.accepted(reason=f"{dest.command} refused: {reason}")


def handle_moderation_reply(inbound: InboundMail, dest: Destination,
                            group: Group | None) -> Outcome:
    """Pipeline handler: approve or reject the held message the token names."""
    assert group is not None
    why = automated.reason(inbound)
    if why:
        return outcomes.dropped(f"{dest.command}: not acting on it: {why}")
    sender = sender_of(inbound)
    if "@" not in sender:
        return outcomes.dropped(f"{dest.command}: no sender address")
    try:
        held_id = int(tokens.check(tokens.MODERATE, dest.token)[0])
    except (tokens.BadToken, ValueError, IndexError):
        return _refuse(group, inbound, dest, sender, format_lazy(
            _("this approve/reject address is not valid: its signature does not match (was it "
              "mistyped or copied from another notice?). Nothing was approved or rejected. "
              "The pending messages: {url}"), url=links.group_url(group.name)))
    held = HeldMessage.objects.filter(pk=held_id, group=group).first()
    if held is None:
        return _refuse(group, inbound, dest, sender, format_lazy(
            _("there is no held message {number} in {name} (was it deleted?)."),
            number=held_id, name=group.name))
    moderator = Membership.objects.filter(
        group=group, email=sender, status=Membership.Status.ACTIVE,
        role__in=[Membership.Role.OWNER, Membership.Role.MODERATOR]).exists()
    if not moderator:
        return _refuse(group, inbound, dest, sender, format_lazy(
            _("{sender} is not an owner or moderator of {name}, so it may not decide held "
              "messages. Reply from the address your moderator notices come to."),
            sender=sender, name=group.name))
    if not senderauth.vouched(inbound.auth):
        assert inbound.auth is not None
        return _refuse(group, inbound, dest, sender, format_lazy(
            _("this reply could not be authenticated ({why}), and a reply that only claims to "
              "come from a moderator must not decide anything. Nothing was approved or "
              "rejected. Please decide on the web ({url}), or reply from a mail system that "
              "signs your mail with DKIM or passes SPF for your domain."),
            why=inbound.auth.why_not(), url=links.group_url(group.name)))
    reason = reply_reason(inbound.parsed.text) if dest.command == "reject" else ""
    try:
        moderation.decide(held.id, dest.command, moderator=sender, reason=reason)
    except moderation.ModerationError as exc:
        return _refuse(group, inbound, dest, sender,
                       format_lazy(_("{problem}; nothing was changed."), problem=exc))
    return outcomes.accepted(reason=f"held message {held.id}: {dest.command}d by {sender}")
