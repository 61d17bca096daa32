"""Queue a post's fan-out inside the archive transaction: who, fixed now; the jobs, later.

The archive transaction must stay short whatever the group's size: smtpd
answers 250 only after it commits, and on SQLite it holds the one write lock.
So it writes no Karl job. It writes one outbox row of kind "fanout" (what to
send: the message, and for a correction its own bytes) and the post's
recipients as ``FanoutRecipient`` rows, by one INSERT ... SELECT of
``fanout.recipient_query`` that the database runs without any Python per
member. messageserver.fanoutcontinuation turns that snapshot into Karl jobs,
a slice at a time, after the commit.

Who gets the post is therefore decided at the moment it is accepted, as when
the jobs were built in the transaction: a member who joins a second later is
not in the snapshot; one who leaves, switches to a digest or mutes the topic
a second later is, and still gets this post.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from groups.models import FanoutRecipient, Hashtag, Message, OutboxItem
from messageserver import fanout, metrics, outbox


def describe(message: Message, bulk: bool) -> str:
    """The name the post's outbox rows carry (groups.deliveryreport finds them by it)."""
    name = f"{message.group.name} #{message.number}"
    return f"{name} (bulk)" if bulk else name


def _snapshot(item: OutboxItem, message: Message, hashtags: list[Hashtag]) -> int:
    """Write the recipients of ``message`` as ``item``'s snapshot; returns how many."""
    query = fanout.recipient_query(message, hashtags).order_by().values("pk").query
    if query.is_empty():  # nobody (a no-email hashtag): Django builds no SQL for that
        return 0
    sql, params = query.sql_with_params()
    table = FanoutRecipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (fanout_id, membership_id) "  # noqa: S608
                       f"SELECT %s, r.* FROM ({sql}) r", [item.pk, *params])
        return cursor.rowcount


def queue_fanout(message: Message, hashtags: list[Hashtag], *, raw: bytes | None = None,
                 subject: str | None = None, kind: str = "post", bulk: bool = False) -> int:
    """Queue the delivery of ``message`` in the current transaction; returns recipient count.

    ``raw`` None sends the archived bytes (read when each job is built);
    a correction (messageserver.edits) passes its own. ``subject`` and
    ``kind`` are fanout.build_job's; ``bulk`` makes bulk jobs (messageserver.bulkfanout).
    """
    payload: dict[str, Any] = {
        "message": message.pk, "kind": kind, "bulk": bulk, "subject": subject,
        "cursor": 0, "parts_done": 0, "recipients_done": 0,
        "meta": {"group": message.group.name, "number": message.number, "kind": "fanout"},
    }
    if raw is not None:
        payload["message_b64"] = fanout.b64(raw)
    item = outbox.enqueue(OutboxItem.Kind.FANOUT, payload,
                          description=f"{describe(message, bulk)} (fan-out)")
    total = _snapshot(item, message, hashtags)
    if not total:
        item.delete()
        return 0
    metrics.FANOUT.observe(total)
    item.payload["total"] = total
    OutboxItem.objects.filter(pk=item.pk).update(payload=item.payload)
    return total
