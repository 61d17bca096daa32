"""What the pipeline decides about a message, as domain outcomes.

Protocol codes appear only at the edges: smtpd maps these to SMTP replies,
the messageserver views to HTTP statuses. The enhanced status code travels
with a rejection because it is part of what the rule decided (5.7.1 not
allowed, 5.1.1 no such list, 5.3.4 too big), not of the transport.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    kind: str  # accepted | held | rejected | dropped
    reason: str = ""
    status: str = ""  # enhanced status code for rejections, e.g. "5.7.1"
    number: int | None = None  # the archived message's number, when accepted
    held_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.kind in ("accepted", "held", "dropped")

    def as_dict(self) -> dict:
        return {"outcome": self.kind, "reason": self.reason, "status": self.status,
                "number": self.number, "held_id": self.held_id}


def accepted(number: int | None = None, reason: str = "") -> Outcome:
    return Outcome("accepted", reason=reason, number=number)


def held(reason: str, held_id: int | None = None) -> Outcome:
    return Outcome("held", reason=reason, held_id=held_id)


def rejected(reason: str, status: str = "5.7.1") -> Outcome:
    return Outcome("rejected", reason=reason, status=status)


def dropped(reason: str) -> Outcome:
    """Silently taken and discarded (loops, automated mail): the sender must not retry."""
    return Outcome("dropped", reason=reason)


class UnknownRecipient(Exception):
    """No group or command answers to this address (550 5.1.1 at the edge)."""


class ForeignDomain(Exception):
    """The address is not at GROUPS_DOMAIN (550 5.7.1 relaying denied at the edge)."""
