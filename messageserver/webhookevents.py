"""Outgoing webhooks' events: what happened, written as deliveries in the same transaction.

A change and the announcement of it commit together (a transactional outbox):
an event can't be lost after its change committed, nor announced for a change
that rolled back. cronjobs.webhooks sends the deliveries, signs them and
retries them; after commit, the registered kickers (``on_queued``; the platform
queues a Celery task there) ask for them to be sent at once rather than at the
next sweep.

Every event is ``{"id", "type", "created", "group": {"name", "title"}, "data"}``.

Most groups have no webhook, so an event first reads the group's ``webhooks_on``
(on the row every event path has loaded anyway) and asks for webhooks only when it
is set. The flag lives in the database, not in a process: ``refresh_flags`` sets it
in the same transaction as any webhook change (the model signals below), so a webhook
added by any process counts for the next event everywhere; the minute's sweep runs it
too, which mends the one race it has (a group created while a site-wide webhook is
being added, each transaction not seeing the other).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from groups import links
from groups.models import Group, HeldMessage, Membership, Message, Webhook, WebhookDelivery

log = logging.getLogger(__name__)

# The event types, and what each means (the owners' webhook page lists these).
EVENTS: dict[str, str] = {
    "message.posted": "A message was archived and sent to the group",
    "message.held": "A message is waiting for a moderator",
    "message.approved": "A moderator approved a held message",
    "message.rejected": "A moderator rejected (or discarded) a held message",
    "member.joined": "Someone became a member",
    "member.left": "A member left",
    "member.removed": "A member was removed or banned",
    "bounce": "Mail to a member bounced",
    "delivery.expired": "A copy could not be delivered before it expired",
}
TEST_EVENT = "ping"

_kickers: list[Callable[[list[int]], None]] = []


def on_queued(func: Callable[[list[int]], None]) -> Callable[[list[int]], None]:
    """Register ``func(delivery_ids)``, called after the commit that wrote deliveries."""
    if func not in _kickers:
        _kickers.append(func)
    return func


def _kick(ids: list[int]) -> None:
    for func in _kickers:
        try:
            func(ids)
        except Exception:  # the sweep sends them anyway; a kick only makes it sooner
            log.exception("webhook kicker %s failed", getattr(func, "__name__", func))


def hooks_for(group: Group | None, event: str) -> list[Webhook]:
    """The active webhooks that want ``event`` from ``group`` (its own and the site's)."""
    where = Q(group__isnull=True) if group is None else Q(group=group) | Q(group__isnull=True)
    return [h for h in Webhook.objects.filter(where, active=True)
            if event in h.events or event == TEST_EVENT]


def refresh_flags() -> None:
    """Make every group's ``webhooks_on`` say whether an active webhook wants its events.

    Writes only the rows that are wrong (usually none), so it is cheap to run often.
    """
    own = Webhook.objects.filter(group=OuterRef("pk"), active=True)
    if Webhook.objects.filter(group__isnull=True, active=True).exists():
        Group.objects.filter(webhooks_on=False).update(webhooks_on=True)
        return
    Group.objects.filter(Exists(own), webhooks_on=False).update(webhooks_on=True)
    Group.objects.filter(~Exists(own), webhooks_on=True).update(webhooks_on=False)


@receiver(post_save, sender=Webhook)
@receiver(post_delete, sender=Webhook)
def _webhook_changed(sender: type, instance: Webhook, **kwargs: Any) -> None:
    refresh_flags()
    if "group" in instance._state.fields_cache and instance.group is not None:
        instance.group.refresh_from_db(fields=["webhooks_on"])  # this process's copy too


@receiver(post_save, sender=Group)
def _group_created(sender: type, instance: Group, created: bool, **kwargs: Any) -> None:
    if created and Webhook.objects.filter(group__isnull=True, active=True).exists():
        Group.objects.filter(pk=instance.pk).update(webhooks_on=True)
        instance.webhooks_on = True


def payload(event: str, group: Group | None, data: dict[str, Any], event_id: uuid.UUID
            ) -> str:
    return json.dumps({
        "id": str(event_id), "type": event, "created": timezone.now(),
        "group": {"name": group.name, "title": group.display_title} if group else None,
        "data": data}, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)


def emit(group: Group | None, event: str, data: dict[str, Any], *,
         only: Webhook | None = None) -> list[WebhookDelivery]:
    """Write one delivery per webhook that wants this event (call inside the change's
    transaction; outside one it commits at once). ``only``: that webhook alone (a test)."""
    return emit_many(group, event, [data], only=only)


def emit_many(group: Group | None, event: str, items: list[dict[str, Any]], *,
              only: Webhook | None = None) -> list[WebhookDelivery]:
    """One event per item (10,000 members added at once ask for their hooks once)."""
    if only is not None:
        hooks = [only]
    elif group is not None and not group.webhooks_on:
        return []  # no webhook wants this group's events: no query
    else:
        hooks = hooks_for(group, event)
    if not hooks or not items:
        return []
    rows = []
    for hook in hooks:
        for data in items:
            event_id = uuid.uuid4()
            rows.append(WebhookDelivery(webhook=hook, event_id=event_id, event=event,
                                        payload=payload(event, group, data, event_id)))
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(rows)
        ids = [r.pk for r in rows if r.pk is not None] or list(
            WebhookDelivery.objects.filter(event_id__in=[r.event_id for r in rows])
            .values_list("pk", flat=True))
        transaction.on_commit(lambda: _kick(ids))
    return rows


# --- the events, each built in one place ----------------------------------------------

def message_posted(message: Message) -> None:
    emit(message.group, "message.posted", {
        "number": message.number, "topic_id": message.topic_id, "subject": message.subject,
        "sender_name": message.sender_name, "sender_email": message.sender_email,
        "source": message.source, "url": links.message_url(message.group.name, message.number)})


def _held(held: HeldMessage) -> dict[str, Any]:
    return {"held_id": held.pk, "subject": held.subject, "sender_email": held.sender_email,
            "reason": held.reason}


def message_held(held: HeldMessage) -> None:
    emit(held.group, "message.held", _held(held))


def message_decided(held: HeldMessage, action: str, moderator: str, reason: str,
                    number: int | None = None) -> None:
    event = "message.approved" if action.startswith("approve") else "message.rejected"
    emit(held.group, event, {**_held(held), "action": action, "moderator": moderator,
                             "decision_reason": reason, "number": number})


# membership_actions' transitions, as the events members' integrations care about
MEMBER_EVENTS = {
    "join": "member.joined", "confirm": "member.joined", "approve": "member.joined",
    "restore": "member.joined",
    "leave": "member.left",
    "remove": "member.removed", "ban": "member.removed", "remove_for_complaint":
    "member.removed", "remove_for_bouncing": "member.removed",
}


def member_changed(m: Membership, action: str, before: str, actor: str,
                   reason: str = "") -> None:
    """A membership transition (membership_actions) or a direct add (membership.add_members)."""
    event = MEMBER_EVENTS.get(action)
    if event is None or (event == "member.removed" and before == m.status):
        return  # not an event, or removing someone already out
    if event == "member.joined" and m.status != Membership.Status.ACTIVE:
        return
    emit(m.group, event, {"email": m.email, "display_name": m.display_name, "role": m.role,
                          "status": m.status, "action": action, "actor": actor,
                          "reason": reason})


def members_added(group: Group, rows: list[Membership], actor: str) -> None:
    """Members added directly by an owner (groups.membership.add_members), active at once."""
    emit_many(group, "member.joined", [
        {"email": m.email, "display_name": m.display_name, "role": m.role, "status": m.status,
         "action": "add", "actor": actor, "reason": ""}
        for m in rows if m.status == Membership.Status.ACTIVE])


def bounce(m: Membership, kind: str, status: str, diagnostic: str,
           number: int | None) -> None:
    emit(m.group, "bounce", {"email": m.email, "kind": kind, "status": status,
                             "diagnostic": diagnostic[:500], "message_number": number,
                             "bounce_score": m.bounce_score})


def delivery_expired(m: Membership, number: int | None, reply: str) -> None:
    emit(m.group, "delivery.expired", {"email": m.email, "message_number": number,
                                       "last_reply": reply[:500]})
