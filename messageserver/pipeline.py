"""The entry point of every received message: classify by address, then dispose.

``handle_inbound`` is what POST /v1/inbound (smtpd and the inbound webhook)
calls. Each destination kind of messageserver.addresses has one handler
module; adding a kind means adding a row to HANDLERS, nothing else.

Before any handler runs, the sender of mail received by SMTP is
authenticated once (messageserver.senderauth): the verdict is stamped on the
message as Authentication-Results and travels with it (``InboundMail.auth``);
a DMARC reject failure or a DNS failure refuses it for every recipient.

Hidden groups: to someone outside, a hidden group and a missing one look
the same over SMTP. RCPT accepts any group address at our domain whether the
group exists or not (``check_recipient``); at DATA, a missing group and a
hidden group the From address has no membership in get one and the same
answer (``NO_SUCH_RECIPIENT``), which names no group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from groups.models import Group, Membership
from messageserver import (
    acceptance,
    addresses,
    bouncehandling,
    commands,
    envelope,
    mailparse,
    metrics,
    modreply,
    outcomes,
    posts,
    senderauth,
)
from messageserver.addresses import Destination
from messageserver.inbound import InboundMail
from messageserver.outcomes import ForeignDomain, Outcome, UnknownRecipient
from platformcore.env import get_env

log = logging.getLogger(__name__)

Handler = Callable[[InboundMail, Destination, "Group | None"], Outcome]


def handle_post(inbound: InboundMail, dest: Destination, group: Group | None) -> Outcome:
    assert group is not None
    return posts.submit_post(group, inbound)


# kind -> its handler, imported like any other code (no strings: a reader and the import
# contracts see every step).
HANDLERS: dict[str, Handler] = {
    "post": handle_post,
    "command": commands.handle_command,
    "confirm": commands.handle_confirm,
    "moderation": modreply.handle_moderation_reply,
    "bounce": bouncehandling.handle_bounce,
}


def _handler(kind: str) -> Handler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise UnknownRecipient(f"{kind} addresses are not served here") from None


NO_SUCH_RECIPIENT = "no such recipient here"


def _no_such_recipient() -> Outcome:
    """The one answer for a missing group and a hidden group to an outsider (no name in it)."""
    return outcomes.rejected(NO_SUCH_RECIPIENT, status="5.1.1")


def check_recipient(address: str) -> Outcome:
    """The RCPT-time check: accepted, or rejected with 5.1.1 / 5.7.1.

    Whether a group exists is not said here (it would tell hidden groups
    apart from missing ones before we know who writes): a well-formed group
    address is accepted, and ``handle_inbound`` decides at DATA.
    """
    try:
        dest = addresses.parse(address)
        _handler(dest.kind)
    except ForeignDomain as exc:
        return outcomes.rejected(f"relaying denied: {exc}", status="5.7.1")
    except UnknownRecipient as exc:
        return outcomes.rejected(f"no such recipient here: {exc}", status="5.1.1")
    return outcomes.accepted()


def may_see(group: Group, inbound: InboundMail) -> bool:
    """Whether mail from ``inbound``'s From may learn that ``group`` exists.

    Everyone may for a listed group; for a hidden one, only an address with a
    membership (any status but banned: invited and pending people must be able
    to confirm), matched on From like every membership.
    """
    if group.privacy != Group.Privacy.HIDDEN:
        return True
    address = inbound.parsed.from_email
    return bool(address) and Membership.objects.filter(group=group, email=address).exclude(
        status=Membership.Status.BANNED).exists()


def authenticate(raw: bytes, mail_from: str, rcpt_tos: list[str], *, via: str, peer: str,
                 helo: str) -> senderauth.Verdict | None:
    """The verdict on ``raw``'s sender (None: not checked).

    Only mail from outside is checked (SMTP and the inbound webhook, whose
    client address is the provider's, so SPF is not evaluated for it), and
    only when some recipient is not a bounce address: a bounce's sender is
    the null one and VERP tokens already authenticate it.
    """
    if via not in ("smtp", "webhook") or not senderauth.enabled():
        return None

    def bounce(rcpt: str) -> bool:
        try:
            return addresses.parse(rcpt).kind == "bounce"
        except (ForeignDomain, UnknownRecipient):
            return False

    if all(bounce(r) for r in rcpt_tos):
        return None
    return senderauth.check(raw, ip=peer if via == "smtp" else "", helo=helo,
                            mail_from=mail_from)


def handle_inbound(mail_from: str, rcpt_tos: list[str], raw: bytes, *, via: str = "smtp",
                   peer: str = "", helo: str = "", now: datetime | None = None
                   ) -> list[tuple[str, Outcome]]:
    """Dispose of one message for each recipient; returns once it is durably handled.

    A message that can't be taken at all (messageserver.acceptance) is refused
    for every recipient before anything else looks at it. One parse: the
    archive and Karl both take ``parsed.raw``, the canonical bytes. The sender
    is authenticated on the bytes as received (a signature covers those), and
    the canonical bytes are stamped with its Authentication-Results.
    Recipients naming the same destination (RCPT repeated, or the same group in
    another case) are handled once and share the answer: one transaction is one
    post, however it was addressed.
    """
    mail_from = envelope.reverse_path(mail_from)
    try:
        parsed = acceptance.parse_acceptable(raw, msgid_domain=settings.GROUPS_DOMAIN)
    except acceptance.Unacceptable as exc:
        refused = outcomes.rejected(exc.reason, status=exc.status)
        metrics.INBOUND.labels(outcome=refused.kind).inc()
        log.info("inbound from=%s via=%s refused: %s %s", mail_from, via, exc.status, exc.reason)
        return [(rcpt, refused) for rcpt in rcpt_tos]
    verdict = authenticate(raw, mail_from, rcpt_tos, via=via, peer=peer, helo=helo)
    if verdict is not None:
        stamped = senderauth.stamp(parsed.raw, verdict, get_env().groups_domain)
        parsed = mailparse.parse(stamped, msgid_domain=settings.GROUPS_DOMAIN)
    refusal = senderauth.edge_refusal(verdict) if verdict is not None else None
    inbound = InboundMail(mail_from=mail_from, raw=parsed.raw, parsed=parsed,
                          now=now or timezone.now(), via=via, peer=peer, helo=helo,
                          auth=verdict)
    results = []
    done: dict[Destination, Outcome] = {}
    for rcpt in rcpt_tos:
        try:
            dest, group = addresses.resolve(rcpt)
            if dest in done:
                outcome = done[dest]
            elif isinstance(group, Group) and not may_see(group, inbound):
                outcome = done[dest] = _no_such_recipient()
            elif refusal is not None and dest.kind != "bounce":
                outcome = done[dest] = refusal
            else:
                outcome = done[dest] = _handler(dest.kind)(inbound, dest, group)
        except ForeignDomain as exc:
            outcome = outcomes.rejected(f"relaying denied: {exc}", status="5.7.1")
        except addresses.NoSuchGroup:
            outcome = _no_such_recipient()
        except UnknownRecipient as exc:
            outcome = outcomes.rejected(f"no such recipient here: {exc}", status="5.1.1")
        metrics.INBOUND.labels(outcome=outcome.kind).inc()
        log.info("inbound from=%s rcpt=%s via=%s: %s %s", mail_from, rcpt, via, outcome.kind,
                 outcome.reason)
        results.append((rcpt, outcome))
    return results
