"""API keys: made, found and revoked here, and nowhere else.

A key is ``gp_`` + a 12-character prefix + ``_`` + a 43-character secret. The
prefix finds the row (it is shown on the account page so a person can tell
their keys apart); the whole key's SHA-256 digest is compared in constant
time. The key itself is shown once, when it is made, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from groups import activitylog
from groups.models import ApiKey, Group, User

KEY_START = "gp_"
# A key's last use is written at most this often: a busy script must not turn every
# read into a database write.
LAST_USED_EVERY = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(user: User, name: str, *, scope: str = ApiKey.Scope.READ,
           group: Group | None = None, expires_at: datetime | None = None
           ) -> tuple[ApiKey, str]:
    """Make a key for ``user``: (its row, the key to show once)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        row = ApiKey.objects.create(user=user, name=name, prefix=prefix, digest=_digest(key),
                                    scope=scope, group=group, expires_at=expires_at)
        if group is not None:
            activitylog.record(group, actor=user.email, verb="api_key_created",
                               target=user.email, detail={"name": name, "scope": scope})
    return row, key


def find(key: str) -> ApiKey | None:
    """The usable key this string is, or None (unknown, malformed, revoked or expired)."""
    if not key.startswith(KEY_START):
        return None
    prefix, _, _secret = key[len(KEY_START):].partition("_")
    if not prefix or not _secret:
        return None
    # The group only for a one-group key (auth._in_scope reads it then): most have none.
    row = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if row is None or not hmac.compare_digest(row.digest, _digest(key)):
        return None
    if not row.is_usable or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


def revoke(row: ApiKey) -> None:
    """Stop a key working at once (the row stays, so the account page can show it)."""
    ApiKey.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
