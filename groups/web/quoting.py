"""Split a plain-text message into what the author wrote and what they quoted.

The topic page shows quoted blocks folded (a <details> element), so a long
thread reads as a conversation. An attribution line ("On Tue, Bob wrote:")
right before a quote belongs to the quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ATTRIBUTION = re.compile(r"^(on .{3,200} wrote:|.{1,100} (wrote|schrieb|a écrit)\s*:)\s*$",
                         re.IGNORECASE)
ORIGINAL = re.compile(r"^-{2,}\s*(original message|forwarded message)\s*-{2,}\s*$",
                      re.IGNORECASE)


@dataclass
class Segment:
    quoted: bool
    text: str


def segments(body: str) -> list[Segment]:
    """Alternating own and quoted segments; an "Original Message" tail is one quote."""
    lines = body.replace("\r\n", "\n").split("\n")
    out: list[Segment] = []
    current: list[str] = []
    quoted = False

    def flush() -> None:
        text = "\n".join(current).strip("\n")
        if text.strip():
            out.append(Segment(quoted, text))
        current.clear()

    for i, line in enumerate(lines):
        if ORIGINAL.match(line.strip()):
            flush()
            out.append(Segment(True, "\n".join(lines[i:]).strip("\n")))
            return out
        is_quote = line.startswith(">")
        next_is_quote = i + 1 < len(lines) and lines[i + 1].startswith(">")
        if not is_quote and next_is_quote and ATTRIBUTION.match(line.strip()):
            is_quote = True
        if is_quote != quoted:
            flush()
            quoted = is_quote
        current.append(line)
    flush()
    return out
