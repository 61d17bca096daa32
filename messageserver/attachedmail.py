"""A whole message attached to a notice (held posts for moderators, mail to the owners).

RFC 2046 §5.2.1: a message/rfc822 part may only be 7bit, 8bit or binary;
never base64 or quoted-printable. Mail clients (and Python's parser) show a
base64-encoded message/rfc822 as an empty message, so a moderator reading by
mail could not see what they were approving. The email package's
``add_attachment(bytes, "message", "rfc822")`` does exactly that, so the
message is attached parsed, with the identity encoding that fits its bytes.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage


def identity_encoding(raw: bytes) -> str:
    """7bit for ASCII with short lines, 8bit for other text, binary for the rest (RFC 2045 §2)."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if any(len(line) > 998 for line in lines) or b"\r" in raw.replace(b"\r\n", b""):
        return "binary"
    return "7bit" if raw.isascii() else "8bit"


def attach_message(msg: EmailMessage, raw: bytes, filename: str) -> None:
    """Attach ``raw`` to ``msg`` as message/rfc822 that any mail client can open.

    The attached message's header lines are written as they came
    (``refold_source="none"`` on ``msg``'s policy): refolding a received header
    can fail on raw 8-bit bytes, and a moderator should see what was sent.
    Headers the platform sets on ``msg`` itself are folded as before.
    """
    inner = email.message_from_bytes(raw, policy=email.policy.default)
    msg.policy = msg.policy.clone(refold_source="none")
    msg.add_attachment(inner, cte=identity_encoding(raw), disposition="attachment",
                       filename=filename)
