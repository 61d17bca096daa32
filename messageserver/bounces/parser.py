"""parse_bounce: from raw bytes to a BounceReport, trying the surest evidence first.

Order: an ARF complaint; RFC 3464 fields (the only standard); then, for the many
servers that still write for humans, X-Failed-Recipients, our own layout rules and
finally flufl.bounce's product-specific detectors. Auto-replies and delay warnings
are recognised before any heuristic can mistake them for failures. Nothing in
here may raise: a bounce address receives whatever the internet sends.
"""

from __future__ import annotations

import logging
from email.message import Message

from messageserver.bounces import arf, dsn, mime, signals, textscan, verdict
from messageserver.bounces.report import NOT_A_BOUNCE, BounceReport, FailedRecipient

log = logging.getLogger(__name__)

_FAILED_ACTIONS = ("failed", "failure", "bounced", "undeliverable", "undelivered")
_DELIVERED_ACTIONS = ("delivered", "relayed", "expanded")


def parse_bounce(raw: bytes) -> BounceReport:
    """Classify one message received at a bounce address. Never raises."""
    if not isinstance(raw, (bytes, bytearray)):
        raw = str(raw).encode("utf-8", "replace")
    try:
        return _parse(bytes(raw))
    except Exception as exc:  # noqa: BLE001 - any input must give an answer
        log.warning("bounce parser gave up on a message: %r", exc)
        return BounceReport(kind="none", notes=(f"unparseable: {type(exc).__name__}",))


MAX_BYTES = 2_000_000  # enough for any report and the start of what it returns


def _parse(raw: bytes) -> BounceReport:
    msg = mime.parse(raw[:MAX_BYTES])
    text = mime.human_text(msg)
    original_id = mime.message_id(mime.returned_headers(msg))
    if arf.is_feedback_report(msg):
        complaint = arf.parse_complaint(msg)
        return BounceReport(kind="complaint", complaint=complaint,
                            original_message_id=complaint.original_message_id or original_id)
    records = dsn.dsn_recipients(msg, text)
    if records:
        report = _from_dsn(msg, text, records, original_id)
        if report is not None:
            return report
    if signals.is_autoreply(msg, text) and not signals.from_daemon(msg):
        return BounceReport(kind="autoreply", original_message_id=original_id)
    if not signals.looks_like_bounce(msg, text):
        return NOT_A_BOUNCE
    if signals.is_warning(msg, text):
        return BounceReport(kind="warning", original_message_id=original_id)
    pairs = _failed_from_headers(msg, text) or _flufl_in_text(msg, text) \
        or textscan.scan_text(msg, text) or _returned_recipient(msg)
    recipients = tuple(_recipient(address, None, diagnostic, text) for address, diagnostic in pairs)
    return BounceReport(kind="bounce", recipients=recipients, original_message_id=original_id)


def _from_dsn(msg: Message, text: str, records: list[dsn.DsnRecipient],
              original_id: str | None) -> BounceReport | None:
    failed = []
    delayed = delivered = False
    for rec in records:
        action = rec.action
        status = rec.status or ""
        if action in _FAILED_ACTIONS or (not action and status.startswith("5")):
            failed.append(rec)
        elif action == "delayed" or (not action and status.startswith("4")):
            delayed = True
        elif action in _DELIVERED_ACTIONS or (not action and status.startswith("2")):
            delivered = True
        elif action:
            failed.append(rec) if status.startswith("5") else None
    if failed:
        recipients = tuple(
            _recipient(rec.address or "", rec.status, rec.diagnostic
                       or _text_about(text, rec.address or ""), text)
            for rec in failed)
        return BounceReport(kind="bounce", recipients=recipients, original_message_id=original_id)
    if delayed:
        return BounceReport(kind="warning", original_message_id=original_id)
    if delivered:
        return BounceReport(kind="delivery-report", original_message_id=original_id)
    return None


def _text_about(text: str, address: str) -> str:
    """The human text's lines about one address (for a DSN without Diagnostic-Code)."""
    if not address:
        return ""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if address.lower() in line.lower():
            chunk = [line.strip()]
            for after in lines[index + 1:index + 4]:
                if not after.strip():
                    break
                chunk.append(after.strip())
            return " ".join(chunk)
    return ""


def _failed_from_headers(msg: Message, text: str) -> list[tuple[str, str]]:
    """X-Failed-Recipients (Exim and friends), with the text's words about each."""
    value = mime.header(msg, "X-Failed-Recipients")
    if not value:
        return []
    found = [m.group(0) for m in mime.ADDRESS_RE.finditer(value)]
    scanned = {a.lower(): d for a, d in textscan.scan_text(msg, text)}
    return [(a, scanned.get(a.lower()) or _text_about(text, a)) for a in dict.fromkeys(found)]


def _flufl_fallback(msg: Message, text: str) -> list[tuple[str, str]]:
    """flufl.bounce's product-specific detectors, permanent failures only."""
    try:
        from flufl.bounce import all_failures
    except ImportError:  # an optional helper: our own rules still run without it
        return []
    logging.getLogger("flufl.bounce").setLevel(logging.WARNING)  # it logs every detector
    try:
        _temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001
        return []
    found = []
    for address in permanent:
        if isinstance(address, bytes):
            address = address.decode("utf-8", "replace")
        if mime.ADDRESS_RE.fullmatch(address or ""):
            found.append((address, _text_about(text, address)))
    return sorted(found, key=lambda pair: _position(text, pair[0]))


def _flufl_in_text(msg: Message, text: str) -> list[tuple[str, str]]:
    """flufl.bounce's answer, kept only where the bounce's own words name the address
    (its generic detectors also pick up Message-IDs and the returned message's headers)."""
    named = {a.lower() for a in mime.find_addresses(text)}
    # Some servers (AOL, Yale's directory) name only the local part, first on its line.
    bare = {line.split()[0].lower() for line in text.split("\n") if line.strip()}
    found = [(a, d) for a, d in _flufl_fallback(msg, text)
             if a.lower() in named or a.split("@", 1)[0].lower() in bare]
    excluded = textscan.exclusions(msg)
    return [(a, d) for a, d in found if a.lower() not in excluded]


def _returned_recipient(msg: Message) -> list[tuple[str, str]]:
    """Last resort: a daemon's bounce naming nobody returned a message with one recipient."""
    original = mime.returned_headers(msg)
    if original is None or not signals.from_daemon(msg):
        return []
    found = mime.addresses_in(mime.header(original, "To")) + mime.addresses_in(
        mime.header(original, "Cc"))
    if len(found) != 1:
        return []
    return [(found[0], "")]


def _position(text: str, address: str) -> int:
    where = text.lower().find(address.lower())
    return where if where >= 0 else len(text)


def _recipient(address: str, status: str | None, diagnostic: str | None,
               text: str) -> FailedRecipient:
    diagnostic = " ".join((diagnostic or "").split()) or None
    if diagnostic and len(diagnostic) > 1000:
        diagnostic = diagnostic[:1000]
    found = verdict.find_status(diagnostic or "")
    if not status or (status.endswith(".0.0") and found and not found.endswith(".0.0")):
        status = found or status
    evidence = diagnostic or ""
    if verdict.reason_for(status, evidence) == "undefined":
        evidence = (evidence + " " + _first_reason_line(text)).strip()
    return FailedRecipient(address=address.strip(), kind=verdict.kind_for(status, evidence),
                           status=status, diagnostic=diagnostic)


def _first_reason_line(text: str) -> str:
    return " ".join(text.split())[:2000]


