"""Continue a post's fan-out after smtpd's 250: its Karl jobs, built a keyset slice at a time.

messageserver.fanoutqueue left, in the archive transaction, one outbox row of
kind "fanout" and the post's recipients as its ``FanoutRecipient`` snapshot.
The outbox dispatcher (messageserver.outbox) claims that row like any other
and calls ``next_slice``, which builds the next job from the first recipients
left in the snapshot (membership id order: a keyset, never an offset), and
in ONE transaction writes it as an outbox "job" row, deletes those recipients
from the snapshot and records the progress on the fanout row. (A bulk fan-out's
slices are taken in domain order instead, ``_bulk_members``, so that a domain's
members share transactions.) The dispatcher
hands the job to Karl at once and comes back for the next slice on its next
pass, so the first copies leave while later jobs are still being built, and
other mail is not kept waiting behind a large group. The slices grow by one
rule for both kinds (messageserver.fanoutslices): ``FANOUT_FIRST_JOB_RECIPIENTS``,
then four times as many, up to ``FANOUT_JOB_RECIPIENTS``; a bulk fan-out from
``FANOUT_FIRST_BULK_JOB_RECIPIENTS`` up to ``FANOUT_BULK_JOB_RECIPIENTS``, so
Karl starts on a large bulk group's first transactions without first taking
a job of 50,000 addresses.

Why no member gets a copy twice or none, whatever is killed when:
- a slice's job row and the removal of its recipients from the snapshot commit
  together: before the commit the recipients are still in the snapshot and no
  job names them; after it the job row names them and they are gone;
- the job row then travels like every outbox row, with its own Idempotency-Key
  (outbox.idempotency_key), so a hand-off repeated after a crash is answered by
  Karl with the job it already has (karl/idempotency.py);
- the slice moves the fanout row only while this dispatcher still holds its
  claim (a conditional UPDATE); a dispatcher that lost it builds nothing.

A member's address and name are read when their slice is built; a membership
deleted meanwhile gets nothing, and so does everybody left when the message
itself was deleted before its fan-out finished.
"""

from __future__ import annotations

import base64
import logging

from django.db import transaction
from django.db.models import Subquery, Value
from django.db.models.functions import Lower, StrIndex, Substr
from django.utils import timezone

from groups.models import FanoutRecipient, Membership, Message, OutboxItem
from messageserver import bulkfanout, fanout, fanoutslices

log = logging.getLogger(__name__)


def _slice_size(payload: dict, part: int) -> int:
    first, size = fanoutslices.bounds(bool(payload.get("bulk")))
    return fanoutslices.slice_size(part, size, first)


def _part_count(payload: dict) -> int:
    first, size = fanoutslices.bounds(bool(payload.get("bulk")))
    return fanoutslices.part_count(int(payload.get("total") or 0), size, first)


def _raw(message: Message, payload: dict) -> bytes:
    if "message_b64" in payload:
        return base64.b64decode(payload["message_b64"])
    return bytes(message.raw.data)


def _members(item: OutboxItem, after: int, upto: int) -> list[fanout.Recipient]:
    """The snapshot's members in (after, upto], as the job needs them, in id order."""
    ids = FanoutRecipient.objects.filter(fanout=item, membership_id__gt=after,
                                         membership_id__lte=upto).values("membership_id")
    return fanout.recipient_rows(Membership.objects.filter(pk__in=Subquery(ids)))


# ids per IN (...) list: under SQLite's and PostgreSQL's limits on parameters
_ID_BATCH = 10_000


def _bulk_members(item: OutboxItem, size: int) -> list[fanout.Recipient]:
    """The first ``size`` members left in a bulk fan-out's snapshot, in domain order.

    A bulk job sends one transaction per domain and 100 recipients, so a
    domain cut over several jobs costs a transaction more per job: slices in
    membership id order, as a personal fan-out's, made Karl send three times
    as many transactions for 100,000 members over 1,260 domains (the smaller
    domains were in every job; docs/capacity.md, "Bulk delivery"). Here a
    domain is in one job, or two at a slice's edge. The taken members leave
    the snapshot by id (``_take``), so what is left is always exactly who
    has no job yet, whatever their addresses do meanwhile.
    """
    snapshot = FanoutRecipient.objects.filter(fanout=item).values("membership_id")
    domain = Lower(Substr("email", StrIndex("email", Value("@")) + 1))
    rows = (Membership.objects.filter(pk__in=Subquery(snapshot)).annotate(domain=domain)
            .order_by("domain", "id").values_list("id", "email")[:size])
    return [fanout.Recipient(pk, email, "") for pk, email in rows]  # a bulk copy names nobody


def _take(item: OutboxItem, ids: list[int], bulk: bool, last: bool) -> None:
    """Remove a slice's members from the snapshot (inside the slice's transaction).

    After a bulk fan-out's last slice, the rest goes too: members whose
    membership was deleted meanwhile, whom no slice could take.
    """
    if not bulk:  # a keyset: everything up to the slice's last id
        FanoutRecipient.objects.filter(fanout=item, membership_id__lte=ids[-1]).delete()
        return
    if last:
        FanoutRecipient.objects.filter(fanout=item).delete()
        return
    for start in range(0, len(ids), _ID_BATCH):
        FanoutRecipient.objects.filter(fanout=item, membership_id__in=ids[
            start:start + _ID_BATCH]).delete()


def _finish(item: OutboxItem, payload: dict, why: str) -> None:
    """The fan-out is complete (or can't go on): the row done, its snapshot gone."""
    with transaction.atomic():
        if OutboxItem.objects.filter(pk=item.pk, state=OutboxItem.State.SENDING,
                                     claimed_by=item.claimed_by).update(
                state=OutboxItem.State.DONE, payload=payload, last_error=why[:5000]):
            FanoutRecipient.objects.filter(fanout=item).delete()


def next_slice(item: OutboxItem) -> OutboxItem | None:
    """Build the next job of the claimed fanout row ``item``; None when there is none.

    The job row is returned claimed by the same dispatcher (state sending), to
    be handed to Karl now; if the process dies first, the outbox takes it back
    (reclaim_orphans, CLAIM_TIMEOUT) and hands it off with the same key. The
    fanout row goes back to pending, due at once, or is done.
    """
    payload = dict(item.payload)
    try:
        message = Message.objects.select_related("group", "topic").get(pk=payload["message"])
    except Message.DoesNotExist:
        log.warning("fan-out %s (%s) stopped: its message was deleted", item.pk,
                    item.description)
        _finish(item, payload, "the message was deleted before its fan-out finished")
        return None
    part = int(payload["parts_done"]) + 1
    cursor = int(payload["cursor"])
    size = _slice_size(payload, part)
    bulk = bool(payload.get("bulk"))
    raw = _raw(message, payload)
    if bulk:  # in domain order (see _bulk_members); the cursor is not used
        members = _bulk_members(item, size)
        ids = [m.id for m in members]
        job = bulkfanout.build_bulk_job(message, raw, members) if ids else {}
    else:  # a keyset in membership id order
        ids = list(FanoutRecipient.objects.filter(fanout=item, membership_id__gt=cursor)
                   .order_by("membership_id").values_list("membership_id", flat=True)[:size])
        members = _members(item, cursor, ids[-1]) if ids else []
        job = fanout.build_job(message, raw, members, subject=payload.get("subject"),
                               kind=payload.get("kind") or "post")
    if not ids:
        _finish(item, payload, "")
        return None
    parts = max(_part_count(payload), part)
    name = item.description.removesuffix(" (fan-out)")
    payload.update(cursor=cursor if bulk else ids[-1], parts_done=part,
                   recipients_done=int(payload["recipients_done"]) + len(ids))
    now = timezone.now()
    last = len(ids) < size  # nothing after this slice: the row is done with it
    with transaction.atomic():
        if not OutboxItem.objects.filter(pk=item.pk, state=OutboxItem.State.SENDING,
                                         claimed_by=item.claimed_by).update(
                payload=payload, next_attempt_at=now, attempts=0, last_error="",
                state=OutboxItem.State.DONE if last else OutboxItem.State.PENDING):
            log.warning("fan-out %s was taken back from this dispatcher; not building part %d",
                        item.pk, part)
            return None
        _take(item, ids, bulk, last)
        created = OutboxItem.objects.create(
            kind=OutboxItem.Kind.JOB, payload=job, state=OutboxItem.State.SENDING,
            claimed_at=now, claimed_by=item.claimed_by, created_at=now, next_attempt_at=now,
            description=name if parts == 1 else f"{name} (part {part} of {parts})")
    item.payload = payload
    item.state = OutboxItem.State.DONE if last else OutboxItem.State.PENDING
    return created


def expand(item: OutboxItem) -> list[OutboxItem]:
    """Every remaining job of the pending fanout row ``item``, built here, left pending.

    The dispatcher's own steps (claim, ``next_slice``) without the hand-off, for
    a process that has no dispatcher: tests read a post's jobs this way. The
    jobs become ordinary outbox rows that a dispatcher hands to Karl on its next pass.
    """
    claimer = "expand"
    if not OutboxItem.objects.filter(pk=item.pk, state=OutboxItem.State.PENDING).update(
            state=OutboxItem.State.SENDING, claimed_at=timezone.now(), claimed_by=claimer):
        return []
    item.refresh_from_db()
    jobs = []
    while (job := next_slice(item)) is not None:
        OutboxItem.objects.filter(pk=job.pk).update(state=OutboxItem.State.PENDING,
                                                    claimed_by="", claimed_at=None)
        jobs.append(job)
        if item.state == OutboxItem.State.DONE or not OutboxItem.objects.filter(
                pk=item.pk, state=OutboxItem.State.PENDING).update(
                state=OutboxItem.State.SENDING, claimed_by=claimer):
            break
        item.state = OutboxItem.State.SENDING
    return jobs


def expand_pending() -> int:
    """Build every pending fan-out's jobs now (see ``expand``); returns how many jobs."""
    return sum(len(expand(item)) for item in OutboxItem.objects.filter(
        kind=OutboxItem.Kind.FANOUT, state=OutboxItem.State.PENDING).order_by("pk"))
