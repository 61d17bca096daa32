"""When Karl refuses an outbox item: report it, keep it retryable, show it to people.

Karl refuses a job (4xx other than 429, typically 422 naming a field) only
when the platform built something Karl's contract does not accept: a bug of
ours, never the sender's fault. Such a row must not end in a terminal state
nobody looks at ("accepted" would then mean "silently lost"). So:

- the refusal is reported to errord with the job (``report``), so the bug is
  seen where every other error is;
- the row becomes ``failed`` but stays retryable: the dispatcher tries it
  again every OUTBOX_REFUSED_RETRY seconds (default 3600), so once the bug is
  fixed and deployed it goes out without anyone's help, and ``manage.py
  outbox --retry`` or the site admin page retries it at once;
- site admins see every failed row (``manage.py outbox --failed``, the page
  /site/outbox/), and the group's owners see on their group's admin page that
  a post or notice of their group was not sent (``failed_items(group)``).

The group of a row is the ``meta.group`` of its job (posts, notices and
digests all carry it).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from groups.models import OutboxItem
from messageserver import metrics
from platformcore.env import env_int

log = logging.getLogger(__name__)

MAX_JOB_TEXT = 16_000  # characters of message_b64 kept in the errord report


def refused_retry() -> timedelta:
    """OUTBOX_REFUSED_RETRY: seconds between automatic retries of a refused row."""
    return timedelta(seconds=env_int("OUTBOX_REFUSED_RETRY", 3600, minimum=1))


def group_name(item: OutboxItem) -> str:
    meta = item.payload.get("meta") if isinstance(item.payload, dict) else None
    return str(meta.get("group") or "") if isinstance(meta, dict) else ""


def record_refusal(item: OutboxItem, status: int, body: Any, error: str) -> None:
    """Karl refused ``item``: mark it failed (retried later) and report it to errord."""
    OutboxItem.objects.filter(id=item.id).update(
        state=OutboxItem.State.FAILED, attempts=item.attempts + 1,
        next_attempt_at=timezone.now() + refused_retry(),
        last_error=f"{error}: {body}"[:5000])
    metrics.OUTBOX_REFUSED.labels(kind=item.kind).inc()
    log.warning("Karl refused outbox item %s (%s): %s %s; retrying in %s", item.id,
                item.description, error, body, refused_retry())
    report(item, status, body, error)


def record_build_failure(item: OutboxItem, error: str) -> None:
    """Building a fan-out's next job failed (a bug of ours): the row failed, retried later.

    Like a refusal: reported to errord, shown by ``manage.py outbox --failed``,
    retried every OUTBOX_REFUSED_RETRY seconds or at once with --retry, and
    the rest of the outbox goes on meanwhile. What was built stays built: the
    retry continues from the fan-out's recorded progress.
    """
    OutboxItem.objects.filter(id=item.id).update(
        state=OutboxItem.State.FAILED, attempts=item.attempts + 1,
        next_attempt_at=timezone.now() + refused_retry(), last_error=error[:5000])
    metrics.OUTBOX_REFUSED.labels(kind=item.kind).inc()
    report(item, 0, None, error, what=f"building the next job of fan-out {item.id} "
                                      f"({item.description}) failed")


def _job_for_report(payload: Any) -> Any:
    if not isinstance(payload, dict):
        return payload
    job = dict(payload)
    for key in ("message_b64", "message"):
        value = job.get(key)
        if isinstance(value, str) and len(value) > MAX_JOB_TEXT:
            job[key] = value[:MAX_JOB_TEXT] + f"... [{len(value)} characters in all]"
    return job


def report(item: OutboxItem, status: int, body: Any, error: str, what: str = "") -> bool:
    """Tell errord (a platform bug: Karl refused what we built, or ``what`` went wrong
    building it); False when errord is down."""
    from errord.client import ErrordClient, ErrordError

    fields = body.get("fields") if isinstance(body, dict) else None
    fields_text = f" ({', '.join(f'{k}: {v}' for k, v in fields.items())})" if (
        isinstance(fields, dict) and fields) else ""
    try:
        with ErrordClient() as client:
            client.report({
                "service": "messageserver",
                "level": "ERROR",
                "exc_type": "FanoutBuildFailed" if what else "KarlRefusedJob",
                "message": what or f"Karl refused outbox item {item.id} ({item.description}) "
                                   f"with {status}{fields_text}",
                "host": socket.gethostname(), "pid": os.getpid(),
                "context": {"outbox_id": item.id, "kind": item.kind,
                            "group": group_name(item), "status": status, "error": error,
                            "karl_answer": body, "job": _job_for_report(item.payload)},
            })
    except ErrordError as exc:
        log.error("could not report Karl's refusal of outbox item %s to errord: %s",
                  item.id, exc)
        return False
    return True


def failed_items(group_name_: str | None = None) -> QuerySet[OutboxItem]:
    """Failed rows, newest first; only ``group_name_``'s when given."""
    rows = OutboxItem.objects.filter(state=OutboxItem.State.FAILED)
    if group_name_ is not None:
        rows = rows.filter(payload__meta__group=group_name_)
    return rows.order_by("-id")


def retry(ids: list[int] | None = None) -> int:
    """Failed rows (all, or those of ``ids``) pending again now; returns how many.

    The dispatcher takes them on its next pass (messageserver.outbox.retry_failed
    also wakes it, when it runs in this process).
    """
    rows = OutboxItem.objects.filter(state=OutboxItem.State.FAILED)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    return rows.update(state=OutboxItem.State.PENDING, next_attempt_at=timezone.now())


def release_due() -> int:
    """Failed rows whose retry time has come: pending again, for the dispatcher's pass."""
    return OutboxItem.objects.filter(state=OutboxItem.State.FAILED,
                                     next_attempt_at__lte=timezone.now()).update(
        state=OutboxItem.State.PENDING)
