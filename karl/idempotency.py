"""Idempotency keys for job submissions: a repeated hand-off returns the first job.

A client that cannot tell whether Karl took a job (its process was killed
after the POST, the answer was lost) submits it again with the same key in
the ``Idempotency-Key`` header; Karl answers 200 with the job it already
has and sends nothing again. messageserver's outbox uses the outbox row's
identity as the key. Karl remembers a key in its spool, in the same synced
write as the job, for as long as it keeps the job and ``KARL_IDEMPOTENCY_RETENTION``
seconds after (karl.spool).

A key sent again with a different body is a client bug, answered 409: the
fingerprint of the request (canonical JSON) is stored with the key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 200


class BadKey(ValueError):
    """The header is present but unusable (the 422 names it)."""


def parse(value: str | None) -> str | None:
    """The key from the header value, None when absent; BadKey when malformed."""
    if value is None:
        return None
    key = value.strip()
    if not key:
        raise BadKey("must not be empty")
    if len(key) > MAX_LENGTH:
        raise BadKey(f"at most {MAX_LENGTH} characters")
    if not all(33 <= ord(c) <= 126 for c in key):
        raise BadKey("printable ASCII without spaces only")
    return key


def fingerprint(data: Any) -> str:
    """What identifies the request body, whatever the key order of its JSON."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
