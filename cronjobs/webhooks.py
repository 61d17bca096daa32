"""Sending webhook deliveries: signed, retried with backoff for a day, never twice after a
success.

A delivery is claimed before it is sent (a conditional UPDATE from pending to
sending, with a lease), so two workers, or a worker and the sweep, never send
the same one at once; a 2xx marks it delivered and nothing sends it again. A
worker killed between the POST and the mark leaves the claim to expire and the
delivery is sent again: receivers get an ``X-Groups-Delivery`` id to drop such a
repeat (at least once, as every webhook sender is).

The signature is Stripe's scheme: ``X-Groups-Signature: t=UNIX,v1=HEX`` where
HEX = HMAC-SHA256(secret, f"{t}.{body}"); a receiver checks it and that t is
recent (``verify`` below does exactly that, for receivers in Python and tests).

Connections go through the feed crawler's public-only client (cronjobs.publichttp):
an owner's URL can't reach our internal services. WEBHOOK_ALLOW_PRIVATE=true lifts
that for operators whose receivers live on their own network (and for tests);
WEBHOOK_CA_FILE names extra certificate authorities to trust (a private CA).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.db.models import Q
from django.utils import timezone

from cronjobs.publichttp import public_client
from groups.models import WebhookDelivery
from messageserver import webhookevents

log = logging.getLogger(__name__)

S = WebhookDelivery.State
TIMEOUT = 10.0  # seconds for one POST: a slow receiver must not hold a worker long
LEASE = timedelta(minutes=2)  # a claim older than this was lost with its worker
GIVE_UP_AFTER = timedelta(days=1)
# Waits after the 1st, 2nd, ... failed attempt (then every 6 hours until a day has passed).
BACKOFF = [timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 3 * 3600)] + [
    timedelta(hours=6)]
USER_AGENT = "Groups-Webhooks/1"


def signature(secret: str, body: bytes, at: int) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None,
           tolerance: int = 300) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        at = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - at) > tolerance:
        return False
    expected = signature(secret, body, at).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def _client() -> httpx.Client:
    allow_private = os.environ.get("WEBHOOK_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")
    client = public_client(TIMEOUT, allow_private=allow_private)
    ca_file = os.environ.get("WEBHOOK_CA_FILE", "")
    if ca_file:  # httpx has no argument for it on a ready transport: load into its context
        context: ssl.SSLContext = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        context.load_verify_locations(cafile=ca_file)
    return client


@dataclass
class Attempt:
    delivery_id: int
    outcome: str  # delivered, retry, failed, skipped
    status: int | None = None
    error: str = ""


def _claim(delivery_id: int, now: datetime) -> bool:
    due = Q(state=S.PENDING, next_attempt_at__lte=now) | Q(
        state=S.SENDING, last_attempt_at__lte=now - LEASE)
    return bool(WebhookDelivery.objects.filter(due, pk=delivery_id).update(
        state=S.SENDING, last_attempt_at=now))


def deliver(delivery_id: int, now: datetime | None = None, *, force: bool = False,
            client: httpx.Client | None = None) -> Attempt:
    """Send one delivery if it is due (``force``: a pending one now, whatever its time)."""
    now = now or timezone.now()
    if force:
        WebhookDelivery.objects.filter(pk=delivery_id, state=S.PENDING).update(
            next_attempt_at=now)
    if not _claim(delivery_id, now):
        return Attempt(delivery_id, "skipped")
    row = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    hook = row.webhook
    body = row.payload.encode("utf-8")
    status: int | None = None
    error = ""
    own = client is None
    client = client or _client()
    try:
        response = client.post(hook.url, content=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-Groups-Event": row.event, "X-Groups-Delivery": str(row.event_id),
            "X-Groups-Signature": signature(hook.secret, body, int(time.time()))})
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        if own:
            client.close()
    attempts = row.attempts + 1
    if not error:
        WebhookDelivery.objects.filter(pk=row.pk).update(
            state=S.DELIVERED, attempts=attempts, last_status=status, last_error="",
            delivered_at=timezone.now())
        return Attempt(row.pk, "delivered", status)
    retry_at = now + backoff(attempts)
    gave_up = retry_at - row.created_at > GIVE_UP_AFTER
    WebhookDelivery.objects.filter(pk=row.pk).update(
        state=S.FAILED if gave_up else S.PENDING, attempts=attempts, last_status=status,
        last_error=error[:500], next_attempt_at=retry_at)
    log.warning("webhook %s delivery %s (%s) failed, attempt %d: %s%s", hook.pk, row.pk,
                row.event, attempts, error, "; giving up" if gave_up else "")
    return Attempt(row.pk, "failed" if gave_up else "retry", status, error)


def due(now: datetime, limit: int = 500) -> list[int]:
    """Deliveries to send now: pending and due, or claimed by a worker that died."""
    return list(WebhookDelivery.objects.filter(
        Q(state=S.PENDING, next_attempt_at__lte=now)
        | Q(state=S.SENDING, last_attempt_at__lte=now - LEASE))
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def sweep(now: datetime | None = None) -> str:
    """Send what is due (the beat's every-minute catch-all behind the kicks)."""
    now = now or timezone.now()
    webhookevents.refresh_flags()  # mends a race of group creation and a site-wide hook
    outcomes: dict[str, int] = {}
    ids = due(now)
    if ids:
        with _client() as client:
            for delivery_id in ids:
                result = deliver(delivery_id, now, client=client)
                outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    return (", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
            or "no webhook deliveries due")
