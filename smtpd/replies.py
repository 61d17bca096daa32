"""aiosmtpd's own replies, given the enhanced status code RFC 3463 asks for.

aiosmtpd answers an oversized message (``SIZE=`` over the limit at MAIL, or
too much data at DATA) with a bare ``552 Error: ...``. A sending MTA shows
its user the enhanced code (5.3.4 "message too big for system"), so the
session's ``push`` runs every reply through ``with_enhanced_code``. Replies
our handler writes already carry one and pass through unchanged.
"""

from __future__ import annotations

import re

_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}\b")


def with_enhanced_code(reply: str, size_limit: int = 0) -> str:
    """``reply`` with an enhanced status code when aiosmtpd wrote it without one."""
    if _HAS_ENHANCED.match(reply) or not reply.startswith("552"):
        return reply
    limit = f" (the limit is {size_limit} bytes)" if size_limit else ""
    return f"552 5.3.4 Message too big{limit}"
