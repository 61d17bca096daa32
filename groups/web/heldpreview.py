"""What a moderator sees of a held message before deciding: parsed, never raw HTML.

The raw bytes came from anyone on the internet, so the preview shows the
plain text (escaped by the template) and the names and sizes of attachments;
it never renders the message's own HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from groups.models import HeldMessage
from messageserver.mailparse import parse


@dataclass
class HeldPreview:
    from_name: str
    from_email: str
    subject: str
    text: str  # cut at max_chars for showing
    attachments: list[tuple[str, str, int]] = field(default_factory=list)
    full_text: str = ""  # uncut: what an edit before approving starts from


def preview(held: HeldMessage, max_chars: int = 20000) -> HeldPreview:
    parsed = parse(bytes(held.raw))
    text = full = parsed.text
    if len(text) > max_chars:
        text = text[:max_chars] + "\n[... cut for the preview ...]"
    return HeldPreview(parsed.from_name, parsed.from_email or held.sender_email,
                       parsed.subject or held.subject, text,
                       [(a.filename, a.content_type, len(a.data)) for a in parsed.attachments], full)
