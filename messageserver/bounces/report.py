"""What the bounce parser returns: plain frozen dataclasses, so callers can hash and compare them.

The bouncer, the inbound pipeline and ``manage.py parsebounce`` all read the same
shape; ``to_json()`` is the one place that decides what an admin sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ReportKind = Literal["bounce", "warning", "autoreply", "delivery-report", "complaint", "none"]
FailureKind = Literal["hard", "soft"]


@dataclass(frozen=True)
class FailedRecipient:
    """One address the remote side gave up on, with why (status and the server's words)."""

    address: str
    kind: FailureKind
    status: str | None = None
    diagnostic: str | None = None

    def to_json(self) -> dict:
        return {"address": self.address, "kind": self.kind, "status": self.status,
                "diagnostic": self.diagnostic}


@dataclass(frozen=True)
class Complaint:
    """An RFC 5965 feedback report: somebody pressed "this is spam" (or auth failed)."""

    feedback_type: str
    original_recipients: tuple[str, ...] = ()
    original_mail_from: str | None = None
    original_message_id: str | None = None

    def to_json(self) -> dict:
        return {"feedback_type": self.feedback_type,
                "original_recipients": list(self.original_recipients),
                "original_mail_from": self.original_mail_from,
                "original_message_id": self.original_message_id}


@dataclass(frozen=True)
class BounceReport:
    """The verdict on one inbound message sent to a bounce address.

    ``recipients`` is non-empty only when ``kind == "bounce"``: a delay warning, an
    auto-reply or a "delivered" report must never count against a member.
    """

    kind: ReportKind
    recipients: tuple[FailedRecipient, ...] = ()
    complaint: Complaint | None = None
    original_message_id: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict:
        data: dict = {"type": self.kind,
                      "recipients": [r.to_json() for r in self.recipients]}
        if self.complaint is not None:
            data["complaint"] = self.complaint.to_json()
        if self.original_message_id:
            data["original_message_id"] = self.original_message_id
        return data


NOT_A_BOUNCE = BounceReport(kind="none")
