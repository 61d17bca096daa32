"""Failed recipients from a bounce written for humans (qmail, Exim, old Sendmail, Exchange...).

These formats differ in wording but share a layout: the failed address stands at the
start of a line (alone, in angle brackets, or followed by ":" / "..." and the
reason), with the server's reply on the same or the next few lines. The rules here
use that layout rather than one rule per product, and only ever read the bounce's
own text, never the returned message, whose To: would otherwise look like a
failure.
"""

from __future__ import annotations

import re
from email.message import Message

from messageserver.bounces import mime

_ADDR = mime.ADDRESS_RE.pattern
# The address opens the line: "<a@b>:", "a@b ...", "  a@b", "a@b on <date>", "RCPT TO:<a@b>".
_LINE_START = re.compile(
    r"^[ \t>*\-]*(?:(?:rcpt to|to|recipient|original-recipient|final-recipient|"
    r"failed recipient|unknown|address|user|mailbox|for)\b\s*[:=]?\s*(?:rfc822;)?\s*)?"
    r"[<\"'(\[]*(" + _ADDR + r")[>\"')\]]*\s*(.*)$", re.I)
# An SMTP reply naming the address: "554 <a@b>... Host unknown", "<<< 550 5.1.1 <a@b>: ...".
_REPLY_LINE = re.compile(
    r"^[ \t]*(?:<<<\s*)?[45]\d\d[ \-](?:[45]\.\d{1,3}\.\d{1,3}\s+)?<(" + _ADDR + r")>\s*(.*)$",
    re.I)
# The address follows a word that says it failed: "your message to <a@b> was rejected".
_IN_SENTENCE = re.compile(
    r"\b(?:recipient|address|addressee|mailbox|user|account|to|for|destination|delivery to|"
    r"destinataire|empf\S*nger|\u5b9b\u5148)\b\s*(?:address|\(s\))?\s*[:=]?\s*"
    r"[<\"'(\[]*(" + _ADDR + r")", re.I)
_SKIP_LINE = re.compile(
    r"^\s*(from|reply-to|sender|return-path|subject|message-id|received|date|sent|"
    r"reporting-mta|x-[\w\-]+|by|dkim-signature|in-reply-to|references|cc|arrival-date|"
    r"original-envelope-id|received-from-mta)\s*:|\bhelo\b|postmaster|mailer-daemon|"
    r"please (contact|send|forward)|for (further )?(assistance|help|more information)|"
    r"send (mail|e-?mail) to|help@|abuse@|contact your", re.I)
_HEADER_TO = re.compile(r"^\s*to\s*:", re.I)
_TRAILING_CONTEXT = 6
_HAS_CODE = re.compile(r"\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b")


def exclusions(msg: Message) -> set[str]:
    """Addresses that are never the failed recipient: the bounce's own parties and the
    original sender (whose message came back)."""
    excluded: set[str] = set()
    for name in ("From", "To", "Cc", "Reply-To", "Return-Path", "Sender", "Errors-To"):
        excluded.update(a.lower() for a in mime.addresses_in(mime.header(msg, name)))
    original = mime.returned_headers(msg)
    if original is not None:
        for name in ("From", "Sender", "Return-Path", "Reply-To", "Errors-To"):
            excluded.update(a.lower() for a in mime.addresses_in(mime.header(original, name)))
    return excluded


def _clean(address: str) -> str:
    return mime.clean_address(address)


def _usable(address: str, excluded: set[str]) -> bool:
    lowered = address.lower()
    if lowered in excluded or mime.is_daemon(lowered):
        return False
    domain = lowered.rsplit("@", 1)[-1]
    return "." in domain and not re.search(r"\.(png|gif|jpe?g)$", domain)


def scan_text(msg: Message, text: str) -> list[tuple[str, str]]:
    """(address, diagnostic) pairs in the order the bounce lists them."""
    excluded = exclusions(msg)
    lines = text.split("\n")
    hits: list[tuple[int, str, str]] = []
    for index, line in enumerate(lines):
        if _SKIP_LINE.search(line):
            continue
        match = _LINE_START.match(line)
        reply = None if match else _REPLY_LINE.match(line)
        if reply:
            address = _clean(reply.group(1))
            if _usable(address, excluded):
                hits.append((index, address, line))
        elif match and not _HEADER_TO.match(line):
            address = _clean(match.group(1))
            if _usable(address, excluded):
                hits.append((index, address, match.group(2)))
    if not hits:
        for index, line in enumerate(lines):
            if _SKIP_LINE.search(line) or _HEADER_TO.match(line):
                continue
            for match in _IN_SENTENCE.finditer(line):
                address = _clean(match.group(1))
                if _usable(address, excluded):
                    hits.append((index, address, line))
    if not hits:
        for index, line in enumerate(lines):
            if _SKIP_LINE.search(line) or _HEADER_TO.match(line):
                continue
            for address in mime.find_addresses(line):
                if _usable(address, excluded):
                    hits.append((index, address, line))
        if len({a.lower() for _, a, _ in hits}) > 3:
            return []
    return _with_diagnostics(hits, lines)


def _with_diagnostics(hits: list[tuple[int, str, str]], lines: list[str]) -> list[tuple[str, str]]:
    """Attach each address's own line and the lines after it (up to the next address);
    a blank line ends the reason unless no SMTP reply has been seen yet."""
    result: dict[str, tuple[str, str]] = {}
    starts = [i for i, _, _ in hits]
    for n, (index, address, rest) in enumerate(hits):
        stop = starts[n + 1] if n + 1 < len(starts) else len(lines)
        stop = min(stop, index + 1 + _TRAILING_CONTEXT)
        chunk = [rest.strip(" :.>")]
        blanks = 0
        for line in lines[index + 1:stop]:
            if not line.strip():
                blanks += 1
                if blanks > 1 or _HAS_CODE.search(" ".join(chunk)):
                    break
                continue
            chunk.append(line.strip())
        diagnostic = " ".join(part for part in chunk if part).strip()
        key = address.lower()
        if key in result:
            previous = result[key][1]
            if diagnostic and diagnostic not in previous:
                result[key] = (result[key][0], (previous + " " + diagnostic).strip())
        else:
            result[key] = (address, diagnostic)
    return list(result.values())
