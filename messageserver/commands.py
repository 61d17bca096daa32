"""Email commands: ``NAME+subscribe@``, ``+unsubscribe@``, ``+owner@``, ``+help@``,
one command per delivery mode (``+single@``, ``+fullfeatured@`` and ``+digest@``,
``+plaindigest@``, ``+summary@``, ``+special@``, ``+nomail@``: the table is
addresses.DELIVERY_COMMANDS), the same words in the Subject of mail to
``NAME+request@`` (as Mailman users expect), and replies to ``NAME+confirm+TOKEN@``.

Every command is answered from a notice template (messageserver/notices.py)
that the owner may override. Three rules hold for every answer:

- automated mail (messageserver/automated.py) is never answered, so two
  robots can't talk forever; our own loop marks drop the mail outright;
- answers to one address are rate-limited (COMMAND_REPLIES_PER_HOUR, django
  cache), so a forged sender can't turn us into a mail cannon; the command
  itself is still carried out;
- joining and leaving are confirmed by reply (double opt-in): the
  confirmation's Reply-To is ``NAME+confirm+TOKEN@``, TOKEN signed by
  groups.tokens, and the mail also carries the equivalent signed web link;
- a delivery change (any of the delivery commands) is carried out at once only
  when the mail's sender is authenticated (messageserver.senderauth: SPF or
  DKIM aligned with the From domain); otherwise the From address is asked to
  confirm by reply, so a forged From changes nobody's subscription.

The acting address is From, never the envelope sender.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from groups import links, ratelimit, tokens
from groups.models import Group, Membership
from messageserver import automated, membership_actions, notices, outcomes, senderauth
from messageserver.addresses import DELIVERY_COMMANDS, Destination
from messageserver.inbound import InboundMail
from messageserver.outcomes import Outcome
from messageserver.posts import find_membership
from platformcore.env import env_int

log = logging.getLogger(__name__)

REPLY_WINDOW = 3600  # seconds
CONFIRM_DELIVERY_TTL = 3 * 24 * 3600  # seconds a delivery confirmation stays valid

# Words accepted in the Subject (or first body line) of mail to NAME+request@.
REQUEST_WORDS = {
    "subscribe": "subscribe", "join": "subscribe",
    "unsubscribe": "unsubscribe", "leave": "unsubscribe", "signoff": "unsubscribe",
    "remove": "unsubscribe",
    "help": "help", "info": "help",
    "individual": "single",
    "confirm": "confirm",
    **{word: word for word in DELIVERY_COMMANDS},
}
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def replies_per_hour() -> int:
    """COMMAND_REPLIES_PER_HOUR (default 10): answers one address may get in an hour."""
    return env_int("COMMAND_REPLIES_PER_HOUR", 10, minimum=1)


def may_answer(address: str) -> bool:
    """Count one answer to ``address``; False once it had its hour's share."""
    return ratelimit.hit("cmd-reply", address, replies_per_hour(), REPLY_WINDOW)


@dataclass
class Request:
    """One command mail: the group, who sent it, and their membership if any."""

    group: Group
    inbound: InboundMail
    sender: str
    membership: Membership | None

    @property
    def message_id(self) -> str:
        return self.inbound.parsed.message_id or ""

    def answer(self, kind: str, description: str, to: str = "", **context: object) -> bool:
        """Queue the answer ``kind`` to the sender unless the rate limit says no."""
        to = to or self.sender
        if not may_answer(to):
            log.warning("%s: not answering %s to %s: rate limit", self.group.name, kind, to)
            return False
        notices.send(kind, self.group, to, description, answering=self.message_id,
                     **context)
        return True

    # reason, summary and detail are lazy (format_lazy): the answer renders them in the
    # language of the person it goes to (messageserver.notices.render's reader).
    def refuse(self, reason: str, command: str) -> Outcome:
        self.answer("command_refused", f"{command} refused for {self.sender}", reason=reason)
        return outcomes.accepted(reason=f"{command} refused: {reason}")

    def done(self, summary: str, detail: str, command: str) -> Outcome:
        self.answer("command_done", f"{command} answered for {self.sender}", summary=summary,
                    detail=detail)
        return outcomes.accepted(reason=f"{command}: {summary}")


def sender_of(inbound: InboundMail) -> str:
    """The address a command acts for: From (the envelope sender is not the author)."""
    return (inbound.parsed.from_email or "").strip().lower()


def _membership(group: Group, inbound: InboundMail) -> Membership | None:
    return find_membership(group, inbound)


def handle_command(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    """Pipeline handler for ``NAME+COMMAND@``."""
    assert group is not None
    why = automated.reason(inbound)
    if why:
        return outcomes.dropped(f"{dest.command}: not answering: {why}")
    sender = sender_of(inbound)
    if "@" not in sender:
        return outcomes.dropped(f"{dest.command}: no sender address to answer")
    req = Request(group, inbound, sender, _membership(group, inbound))
    command = dest.command
    if command == "request":
        command, argument = request_command(inbound)
        if command == "confirm":
            return _confirm(req, argument)
        if not command:
            return req.refuse(format_lazy(
                _("the subject \"{subject}\" names no command we know. Use one of: subscribe, "
                  "unsubscribe, {commands}, help."),
                subject=inbound.parsed.subject, commands=", ".join(DELIVERY_COMMANDS)),
                "request")
    with transaction.atomic():
        return COMMANDS[command](req)


def request_command(inbound: InboundMail) -> tuple[str, str]:
    """The command word (and its argument) in the Subject, else the first body line."""
    candidates = [inbound.parsed.subject]
    candidates += [line for line in inbound.parsed.text.splitlines() if line.strip()][:1]
    for text in candidates:
        words = _REPLY_PREFIX.sub("", text or "").split()
        if words and words[0].lower() in REQUEST_WORDS:
            return REQUEST_WORDS[words[0].lower()], (words[1] if len(words) > 1 else "")
    return "", ""


def _row(req: Request) -> Membership:
    """The sender's membership row, made (outside the group) when there is none."""
    m = req.membership
    if m is not None and m.email == req.sender:
        return m
    return membership_actions.membership_row(req.group, req.sender,
                                             display_name=req.inbound.parsed.from_name or "")


def subscribe(req: Request) -> Outcome:
    group, m = req.group, req.membership
    if m is not None and m.email != req.sender:
        m = None  # matched on the envelope sender: subscribe the From address
    route = membership_actions.join_route(group, m, req.sender)
    if route == membership_actions.ALREADY:
        return req.done(
            format_lazy(_("You are already a member of {title}"), title=group.display_title),
            format_lazy(_("{email} is already subscribed to {title}."), email=m.email,
                        title=group.display_title),
            "subscribe")
    if route == membership_actions.BANNED:
        return req.refuse(format_lazy(_("{sender} may not join {title}."), sender=req.sender,
                                      title=group.display_title), "subscribe")
    if route == membership_actions.WAITING:
        req.answer("pending", f"pending reminder {m.email}", membership=m)
        return outcomes.accepted(reason="subscribe: still waiting for an owner")
    if route == membership_actions.NEEDS_PARENT:
        return req.refuse(format_lazy(
            _("{title} is a subgroup of {parent}: only members of {parent} may join it. Join "
              "{parent} first by writing to {parent_address}."),
            title=group.display_title, parent=group.parent.display_title,
            parent_address=group.parent.address("subscribe")), "subscribe")
    if route == membership_actions.INVITE_ONLY:
        return req.refuse(format_lazy(
            _("{title} is open by invitation only. If you would like an invitation, write to "
              "the owners at {owner_address}."),
            title=group.display_title, owner_address=group.address("owner")), "subscribe")
    m = _row(req)
    if route == membership_actions.NEEDS_APPROVAL:
        # the owners must hear of the request even when the requester's answers are spent
        membership_actions.request_join(m, answering=req.message_id,
                                        tell_member=may_answer(m.email), actor=m.email)
        return outcomes.accepted(reason="subscribe: waiting for owner approval")
    m = membership_actions.ask_confirmation(m, actor=m.email) or m
    token = tokens.make(tokens.CONFIRM_SUBSCRIBE, m.id)
    address = confirm_address(group, token)
    if may_answer(m.email):
        notices.send("confirm_subscribe", group, m.email, f"confirm subscribe {m.email}",
                     answering=req.message_id, reply_to=address, membership=m,
                     confirm_address=address,
                     confirm_url=links.confirm_subscription_url(m.id))
    return outcomes.accepted(reason="subscribe: confirmation sent")


def confirm_address(group: Group, token: str) -> str:
    return f"{group.name}+confirm+{token}@{settings.GROUPS_DOMAIN}"


def unsubscribe(req: Request) -> Outcome:
    m = req.membership
    S = Membership.Status
    if m is None or m.status not in (S.ACTIVE, S.PENDING_CONFIRM, S.PENDING_APPROVAL):
        return req.refuse(format_lazy(_("{sender} is not a member of {title}."),
                                      sender=req.sender, title=req.group.display_title),
                          "unsubscribe")
    token = tokens.make(tokens.UNSUBSCRIBE, m.id)
    address = confirm_address(req.group, token)
    req.answer("confirm_unsubscribe", f"confirm unsubscribe {m.email}", to=m.email,
               reply_to=address, membership=m, confirm_address=address,
               confirm_url=links.unsubscribe_url(m.id))
    return outcomes.accepted(reason="unsubscribe: confirmation sent")


def help_(req: Request) -> Outcome:
    req.answer("help", f"help for {req.sender}")
    return outcomes.accepted(reason="help sent")


def _delivery(word: str, mode: str) -> Callable[[Request], Outcome]:
    """The command ``NAME+WORD@``: set delivery ``mode`` (a Membership.Delivery value)."""
    mode = Membership.Delivery(mode).value

    def change(req: Request) -> Outcome:
        m = req.membership
        if m is None or m.status != Membership.Status.ACTIVE:
            return req.refuse(format_lazy(_("{sender} is not a member of {title}."),
                                          sender=req.sender, title=req.group.display_title),
                              word)
        label = Membership.Delivery(mode).label
        if not senderauth.vouched(req.inbound.auth):
            return _ask_delivery(req, m, mode, label)
        m = membership_actions.set_delivery(m, mode, by_member=True, actor=m.email) or m
        req.answer("delivery_changed", f"delivery {mode} for {m.email}", to=m.email,
                   membership=m, delivery_label=label)
        return outcomes.accepted(reason=f"delivery is now {mode}")

    change.__doc__ = f"Set the sender's delivery to {mode} and say so."
    return change


def _ask_delivery(req: Request, m: Membership, mode: str, label: str) -> Outcome:
    """Ask the member to confirm a delivery change that came unauthenticated."""
    token = tokens.make(tokens.CONFIRM_DELIVERY, m.id, mode, ttl=CONFIRM_DELIVERY_TTL)
    address = confirm_address(req.group, token)
    req.answer("confirm_delivery", f"confirm delivery {mode} for {m.email}", to=m.email,
               reply_to=address, membership=m, confirm_address=address,
               confirm_url=links.confirm_delivery_url(token), delivery_label=label)
    return outcomes.accepted(
        reason=f"{mode}: confirmation sent to {m.email} (the sender is not authenticated)")


def owner(req: Request) -> Outcome:
    """Forward to the owners and moderators, wrapped (From is ours, Reply-To the sender),
    so the forward passes DMARC and the owners' replies reach the writer."""
    mods = notices.moderators(req.group)
    if not mods:
        return outcomes.rejected(f"{req.group.name} has no owners to write to", status="5.1.1")
    parsed = req.inbound.parsed
    for mod in mods:
        notices.send("owner_forward", req.group, mod, f"to owners from {req.sender} for {mod}",
                     reply_to=req.sender, attach=req.inbound.raw, sender=req.sender,
                     subject=parsed.subject, text=parsed.text[:20000])
    return outcomes.accepted(reason=f"forwarded to {len(mods)} owners and moderators")


COMMANDS: dict[str, Callable[[Request], Outcome]] = {
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "help": help_,
    "owner": owner,
    **{word: _delivery(word, mode) for word, mode in DELIVERY_COMMANDS.items()},
}


# --- confirmations -------------------------------------------------------------------

def handle_confirm(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    """Pipeline handler for ``NAME+confirm+TOKEN@``: a reply to a confirmation."""
    assert group is not None
    why = automated.reason(inbound)
    if why:  # a vacation reply to our confirmation must not subscribe anybody
        return outcomes.dropped(f"confirm: not acting on it: {why}")
    sender = sender_of(inbound)
    if "@" not in sender:
        return outcomes.dropped("confirm: no sender address to answer")
    return _confirm(Request(group, inbound, sender, _membership(group, inbound)), dest.token)


def _confirm(req: Request, token: str) -> Outcome:
    action, membership_id, mode = "", 0, ""
    for purpose, name, expires in ((tokens.CONFIRM_SUBSCRIBE, "subscribe", False),
                                   (tokens.UNSUBSCRIBE, "unsubscribe", False),
                                   (tokens.CONFIRM_DELIVERY, "delivery", True)):
        try:
            parts = tokens.check(purpose, token, expires=expires)
            action, membership_id = name, int(parts[0])
            if name == "delivery":
                mode = Membership.Delivery(parts[1]).value
            break
        except (tokens.BadToken, ValueError, IndexError):
            continue
    m = (Membership.objects.select_related("group").filter(pk=membership_id, group=req.group)
         .first() if action else None)
    if m is None:
        return req.refuse(format_lazy(
            _("this confirmation address is not valid (it may have been mistyped or belong to "
              "another group). To join, send a message to {subscribe_address}; to leave, to "
              "{unsubscribe_address}."),
            subscribe_address=req.group.address("subscribe"),
            unsubscribe_address=req.group.address("unsubscribe")), "confirm")
    with transaction.atomic():
        if action == "subscribe":
            return _confirm_subscribe(req, m)
        if action == "delivery":
            return _confirm_delivery(req, m, mode)
        return _confirm_unsubscribe(req, m)


def _confirm_subscribe(req: Request, m: Membership) -> Outcome:
    if m.status == Membership.Status.ACTIVE:
        return req.done(
            format_lazy(_("You are already a member of {title}"), title=req.group.display_title),
            format_lazy(_("{email} is already subscribed."), email=m.email), "confirm")
    status = membership_actions.confirm(m, actor=m.email)
    if not status:
        return req.refuse(format_lazy(
            _("this confirmation is no longer valid: send a new request to "
              "{subscribe_address}."), subscribe_address=req.group.address("subscribe")),
            "confirm")
    return outcomes.accepted(reason=f"subscription confirmed: {status}")


def _confirm_unsubscribe(req: Request, m: Membership) -> Outcome:
    if membership_actions.leave(m, actor=m.email) is None:
        return req.done(
            format_lazy(_("You are not a member of {title}"), title=req.group.display_title),
            format_lazy(_("{email} is not subscribed (any more)."), email=m.email), "confirm")
    return outcomes.accepted(reason=f"{m.email} unsubscribed")


def confirmed_delivery(m: Membership, mode: str) -> bool:
    """Carry out a delivery change its member confirmed (by reply or by the signed link).

    The one step both confirmations take: an active member only, and the
    member hears of it as after a command. False when nothing was changed.
    """
    changed = membership_actions.set_delivery(m, mode, by_member=True, actor=m.email)
    if changed is None:
        return False
    m.delivery = changed.delivery
    if may_answer(m.email):
        notices.send("delivery_changed", m.group, m.email, f"delivery {mode} for {m.email}",
                     membership=m, delivery_label=Membership.Delivery(mode).label)
    return True


def _confirm_delivery(req: Request, m: Membership, mode: str) -> Outcome:
    """The member confirmed by reply (so the token reached their mailbox) a delivery change."""
    if not confirmed_delivery(m, mode):
        return req.refuse(format_lazy(
            _("{email} is not an active member of {title} any more; nothing was changed."),
            email=m.email, title=req.group.display_title), "confirm")
    return outcomes.accepted(reason=f"delivery is now {mode} (confirmed)")
