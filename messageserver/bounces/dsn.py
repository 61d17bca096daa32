"""RFC 3464 delivery status notifications: the standard, and most bounces' real format.

A DSN's message/delivery-status part holds one block of per-message fields and one
block per recipient (Final-Recipient, Action, Status, Diagnostic-Code). Many
servers also paste the same fields into a plain-text bounce, or label the part
text/plain, so the fields are read from text wherever they appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from messageserver.bounces import mime

DSN_TYPES = ("message/delivery-status", "message/global-delivery-status", "text/delivery-status")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)[ \t]*:[ \t]*(.*)$")


@dataclass
class DsnRecipient:
    """One per-recipient block, fields as the server wrote them."""

    final: str | None
    original: str | None
    action: str
    status: str | None
    diagnostic: str | None

    @property
    def address(self) -> str | None:
        """Final-Recipient, as RFC 3464 intends; Original-Recipient when it is missing."""
        return self.final or self.original


def _address(value: str) -> str | None:
    """``rfc822; <user@host>`` -> ``user@host``; None when no mail address is in it."""
    if ";" in value:
        value = value.split(";", 1)[1]
    match = mime.ADDRESS_RE.search(value)
    if not match:
        return None
    return match.group(0).strip(".'\"")


def _blocks_from_part(part: Message) -> list[list[tuple[str, str]]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = []
        for sub in payload:
            if isinstance(sub, Message):
                blocks.append([(k, " ".join(str(v).split())) for k, v in sub.items()])
        # compat32 sometimes folds everything into one block with repeated keys.
        return blocks
    return blocks_from_text(mime.decoded(part))


def blocks_from_text(text: str) -> list[list[tuple[str, str]]]:
    """Field blocks separated by blank lines, with RFC 5322 folding undone."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[:1] in (" ", "\t") and current:
            key, value = current[-1]
            current[-1] = (key, (value + " " + line.strip()).strip())
            continue
        match = _FIELD.match(line.strip())
        if match:
            current.append((match.group(1), match.group(2).strip()))
    if current:
        blocks.append(current)
    return blocks


def _split_recipients(blocks: list[list[tuple[str, str]]]) -> list[DsnRecipient]:
    """Per-recipient records; a new Final-Recipient starts a new one even without a gap."""
    records: list[dict[str, str]] = []
    for block in blocks:
        current: dict[str, str] = {}
        block_records = [current]
        for key, value in block:
            name = key.lower()
            if name in ("final-recipient", "original-recipient", "x-actual-recipient"):
                if name in current:
                    current = {}
                    block_records.append(current)
                current[name] = value
            elif name in ("action", "status", "diagnostic-code", "x-supplementary-info"):
                if name in current and name != "diagnostic-code":
                    current = {}
                    block_records.append(current)
                if name in current:
                    current[name] += " " + value
                else:
                    current[name] = value
        records.extend(r for r in block_records
                       if any(k.endswith("recipient") for k in r))
    result = []
    for rec in records:
        final = _address(rec.get("final-recipient", "")) or _address(
            rec.get("x-actual-recipient", ""))
        original = _address(rec.get("original-recipient", ""))
        if not final and not original:
            continue
        diagnostic = rec.get("diagnostic-code", "")
        if ";" in diagnostic[:12]:
            diagnostic = diagnostic.split(";", 1)[1]
        diagnostic = " ".join((diagnostic + " " + rec.get("x-supplementary-info", "")).split())
        status = None
        match = re.search(r"\d\.\d{1,3}\.\d{1,3}", rec.get("status", ""))
        if match:
            status = match.group(0)
        result.append(DsnRecipient(final=final, original=original,
                                   action=rec.get("action", "").split()[0].lower()
                                   if rec.get("action", "").split() else "",
                                   status=status, diagnostic=diagnostic or None))
    return result


def dsn_recipients(msg: Message, text: str) -> list[DsnRecipient]:
    """Per-recipient DSN records from the delivery-status part(s), else from the text."""
    # Only the first report counts: a "postmaster notify" quotes the bounce it is about,
    # and that inner report's recipients are not ours.
    for part in mime.outer_parts(msg) + _status_parts(msg):
        if mime.content_type(part) in DSN_TYPES:
            found = _split_recipients(_blocks_from_part(part))
            if found:
                return _dedupe(found)
    if re.search(r"^\s*(Final|Original)-Recipient\s*:", text, re.I | re.M):
        return _dedupe(_split_recipients(blocks_from_text(text)))
    return []


def has_report(msg: Message) -> bool:
    """A delivery-status part, even an empty one, is a mail system's failure report."""
    return bool(_status_parts(msg))


def _status_parts(msg: Message) -> list[Message]:
    """Delivery-status parts are "message/*" and so skipped by outer_parts; find them."""
    parts = []
    try:
        for part in msg.walk():
            if mime.content_type(part) in ("message/delivery-status",
                                           "message/global-delivery-status"):
                parts.append(part)
    except Exception:  # noqa: BLE001
        return []
    return parts


def _dedupe(records: list[DsnRecipient]) -> list[DsnRecipient]:
    seen: dict[str, DsnRecipient] = {}
    for rec in records:
        key = (rec.address or "").lower()
        if key not in seen:
            seen[key] = rec
    return list(seen.values())
