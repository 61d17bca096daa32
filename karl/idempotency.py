"""Idempotency keys for job submissions: a repeated hand-off returns the first job.

A client that cannot tell whether Karl took a job (its process was killed
after the POST, the answer was lost) submits it again with the same key in
the ``Idempotency-Key`` header; Karl answers 200 with the job it already
has and sends nothing again. messageserver's outbox uses the outbox row's
identity as the key. Karl remembers a key in its spool, in the same synced
write as the job, for as long as it keeps the job and ``KARL_IDEMPOTENCY_RETENTION``
seconds after (karl.spool).

A key sent again with a different body is a client bug, answered 409: the
fingerprint of the request is stored with the key. For a job it is taken from
the job as validated (``of_job``: its fields, message and recipients), not
from the body: canonical JSON of a 100,000-address bulk job cost Karl 40 ms
of CPU per job, a third of taking it, where hashing what the validator has
already made costs about 2 ms; and a body whose JSON differs in key order or
spelling (messageserver resubmits a row as the database gave it back) still
gives the same job. A key stored by a Karl from before (``VERSION`` absent:
the canonical JSON of the body) is compared the old way, so an upgrade never
turns a replay into a 409.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from karl.contract import Job

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 200
VERSION = "j1:"  # a fingerprint of the validated job (``of_job``); none: of the body


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


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogatepass")


def of_body(data: Any) -> str:
    """What identifies a request body, whatever the key order of its JSON (POST /v1/mail,
    whose job gets its own Date and Message-ID, and every key from before ``VERSION``)."""
    return hashlib.sha256(_canonical(data)).hexdigest()


def of_job(job: Job) -> str:
    """What identifies a validated job: its fields, its message and its recipients.

    Each part is hashed with its length before it, so no two different jobs
    run together into the same bytes. A bulk job's recipients are its
    addresses as the validator left them (deduplicated, grouped by domain):
    one join, no JSON.
    """
    fields = {"mail_from": job.mail_from, "headers": job.headers,
              "remove_headers": job.remove_headers, "footer": job.footer, "vars": job.vars,
              "dkim": job.dkim, "lifetime": job.lifetime, "events": job.events,
              "meta": job.meta, "kind": job.kind}
    recipients = ("\n".join(job.addresses).encode("utf-8", "surrogatepass")
                  if job.kind == "bulk" else _canonical(job.recipients))
    digest = hashlib.sha256()
    for part in (_canonical(fields), job.message, recipients):
        digest.update(b"%d:" % len(part))
        digest.update(part)
    return VERSION + digest.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """A request's fingerprint (``value``, stored with its key), and how to compare it
    with one stored before: a key stored without ``VERSION`` is compared with the
    canonical JSON of ``data`` (computed then only: a replay is rare)."""

    value: str
    data: Any = None

    def matches(self, stored: str) -> bool:
        """Whether ``stored`` (the fingerprint kept with the key) names this same request."""
        if not stored or not self.value:
            return True
        if stored.startswith(VERSION) or not self.value.startswith(VERSION):
            return stored == self.value
        return stored == of_body(self.data)


def fingerprint(data: Any, job: Job | None = None) -> Fingerprint:
    """The fingerprint of a request: of its validated ``job`` if given (POST /v1/jobs),
    else of its body ``data``."""
    return Fingerprint(of_job(job) if job is not None else of_body(data), data)
