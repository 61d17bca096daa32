"""Bounce and complaint parsing: which member's address failed, and whether for good.

``parse_bounce(raw)`` reads any message that arrived at a bounce address and says
what it is (bounce, delay warning, auto-reply, delivery report, ARF complaint or
none), with the failed recipients and a hard/soft verdict for each.
"""

from messageserver.bounces.parser import parse_bounce
from messageserver.bounces.report import BounceReport, Complaint, FailedRecipient

__all__ = ["BounceReport", "Complaint", "FailedRecipient", "parse_bounce"]
