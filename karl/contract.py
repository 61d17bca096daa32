"""Karl's HTTP contract: the request and response shapes, and the validator the server uses.

Clients (karl/client.py, messageserver) and the server (karl/server.py) both
read this module, so a field is named and checked in one place. ``validate_job``
and ``validate_mail`` return the normalised request or raise ``InvalidRequest``
with one message per bad field (the 422 body).
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NotRequired, TypedDict

from karl.footer import check as check_template
from platformcore import mailheaders

STATES = ("queued", "sending", "deferred", "sent", "bounced", "expired")
# "finished" is not a recipient's state: one event per job when its last recipient is done,
# with the job's counts (karl.spool.Spool.record), so a report of every copy costs one
# event per job rather than one per copy.
EVENT_STATES = ("bounced", "expired", "sent", "deferred", "finished")
DEFAULT_EVENTS = ("bounced", "expired")
DEFAULT_LIFETIME = 5 * 24 * 3600
# "personal": one composed, signed copy per recipient (footer and headers of its own).
# "bulk": one copy for everybody, signed once, many RCPT per transaction (karl.bulk).
KINDS = ("personal", "bulk")

# An address: no whitespace, brackets or quotes before the @, DNS labels after it. The
# quantifiers are possessive: nothing to backtrack into, which makes checking a bulk job's
# 100,000 addresses (one match over all of them, ``are_addresses``) six times faster.
_LABEL = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_ONE_ADDRESS = r"[^@\s<>()\[\],;:\"\\]++@" + _LABEL + r"(?:\." + _LABEL + r")*+"
_ADDRESS = re.compile(rf"{_ONE_ADDRESS}\Z")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_RECIPIENT_FIELDS = frozenset(("address", "mail_from", "headers", "vars"))


class RecipientIn(TypedDict):
    address: str
    mail_from: NotRequired[str]
    headers: NotRequired[list[list[str]]]
    vars: NotRequired[dict[str, Any]]


class FooterIn(TypedDict):
    text: str
    html: NotRequired[str]


class JobIn(TypedDict):
    """POST /v1/jobs body."""

    message: NotRequired[str]
    message_b64: NotRequired[str]
    mail_from: str
    headers: NotRequired[list[list[str]]]
    remove_headers: NotRequired[list[str]]
    footer: NotRequired[FooterIn]
    # the footer's variables shared by every recipient (a recipient's own win): sent
    # once, not once per recipient, so a fan-out's job is half the size
    vars: NotRequired[dict[str, Any]]
    recipients: list[RecipientIn]
    dkim: NotRequired[bool]
    lifetime: NotRequired[int]
    events: NotRequired[list[str]]
    meta: NotRequired[dict[str, Any]]
    kind: NotRequired[str]  # "personal" (default) or "bulk" (one copy, vars only job-wide)


class MailIn(TypedDict):
    """POST /v1/mail body: one transactional message."""

    to: list[str] | str
    subject: str
    text: NotRequired[str]
    html: NotRequired[str]
    cc: NotRequired[list[str] | str]
    bcc: NotRequired[list[str] | str]
    headers: NotRequired[dict[str, str]]
    reply_to: NotRequired[str]
    meta: NotRequired[dict[str, Any]]
    events: NotRequired[list[str]]
    # "from" is a keyword in Python: sent as "from" in JSON


class Accepted(TypedDict):
    id: str
    recipients: int


class RecipientStatus(TypedDict):
    address: str
    state: str
    attempts: int
    next_attempt: str | None
    reply: str
    code: int | None


class JobStatus(TypedDict):
    id: str
    created: str
    recipients: list[RecipientStatus]
    counts: dict[str, int]


class DeliveryEvent(TypedDict):
    id: str  # job/recipient/attempt: the receiver applies each id once
    job_id: str
    address: str
    state: str
    code: int | None
    reply: str
    at: str
    meta: dict[str, Any]


class InvalidRequest(ValueError):
    """A well-formed request whose fields are wrong; ``fields`` maps each to its problem."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid job: " + "; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass
class Job:
    """A validated job, as the spool stores it (the message kept as bytes)."""

    message: bytes
    mail_from: str
    recipients: list[dict[str, Any]]
    headers: list[list[str]] = field(default_factory=list)
    remove_headers: list[str] = field(default_factory=list)
    footer: dict[str, str] | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    dkim: bool = True
    lifetime: int = DEFAULT_LIFETIME
    events: list[str] = field(default_factory=lambda: list(DEFAULT_EVENTS))
    meta: dict[str, Any] = field(default_factory=dict)
    kind: str = "personal"
    # a bulk job's recipients: addresses only, deduplicated, grouped by domain (``recipients``
    # stays empty: an object per member is what a 100,000-member job can do without)
    addresses: list[str] = field(default_factory=list)
    # each address's domain, lower-cased (bulk_recipients found them; build_units uses them)
    domains: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many recipients the job has."""
        return len(self.addresses) if self.kind == "bulk" else len(self.recipients)

    def spec(self) -> dict[str, Any]:
        """Everything but the message and the recipients (stored apart)."""
        spec = {"mail_from": self.mail_from, "headers": self.headers,
                "remove_headers": self.remove_headers, "footer": self.footer,
                "vars": self.vars, "dkim": self.dkim, "lifetime": self.lifetime, "events": self.events,
                "meta": self.meta}
        if self.kind != "personal":  # personal jobs' specs stay as they always were
            spec["kind"] = self.kind
        return spec


def is_address(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 320 and bool(_ADDRESS.match(value))


# the same over addresses joined by newlines (an address holds no whitespace): one match
# in C for a bulk job's recipients instead of one call each
_ADDRESSES = re.compile(rf"{_ONE_ADDRESS}(?:\n{_ONE_ADDRESS})*+")
_DOMAINS = re.compile(r"@([^@\n]*)$", re.MULTILINE)  # each joined address's domain


def are_addresses(values: list[Any]) -> bool:
    """Whether every one of ``values`` is_address (False: look at each to say which)."""
    try:
        joined = "\n".join(values)
    except TypeError:  # not all strings
        return False
    return max(map(len, values), default=0) <= 320 and bool(_ADDRESSES.fullmatch(joined))


def _headers(value: Any, where: str, errors: dict[str, str]) -> list[list[str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors[where] = "must be a list of [name, value] pairs"
        return []
    out = []
    for i, pair in enumerate(value):
        if (not isinstance(pair, list | tuple) or len(pair) != 2
                or not isinstance(pair[0], str) or not isinstance(pair[1], str)):
            errors[f"{where}[{i}]"] = "must be a [name, value] pair of strings"
        elif not _HEADER_NAME.match(pair[0]):
            errors[f"{where}[{i}]"] = f"{pair[0]!r} is not a header name"
        elif problem := mailheaders.problem(pair[1]):
            errors[f"{where}[{i}]"] = problem
        else:
            out.append([pair[0], pair[1]])
    return out


def _events(value: Any, errors: dict[str, str]) -> list[str]:
    if value is None:
        return list(DEFAULT_EVENTS)
    if not isinstance(value, list) or not all(v in EVENT_STATES for v in value):
        errors["events"] = f"must be a list drawn from {', '.join(EVENT_STATES)}"
        return []
    return list(dict.fromkeys(value))


def _meta(value: Any, errors: dict[str, str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["meta"] = "must be a JSON object"
        return {}
    return value


def bulk_recipients(rcpts: list[Any], errors: dict[str, str]) -> tuple[list[str], list[str]]:
    """A bulk job's recipients, one per address (case-insensitively), grouped by domain,
    and each one's domain (lower-cased, the same order): the spool cuts the job into
    transactions by them (karl.bulkrecords.build_units) without looking again.

    Called by ``validate_job`` for a job of kind "bulk"; adds to
    ``errors`` one message per bad recipient (at most 50). Checked in bulk
    (a 100,000-member job is taken in a few comprehensions and one regular
    expression match), each recipient on its own only when something is wrong.
    A list that comes already grouped by domain in order and without a
    duplicate (messageserver sends it so, bulkfanout.build_bulk_job) is kept as
    it is, which is checked in C (a comparison of neighbours, a set); any other is
    deduplicated (the first spelling wins) and sorted by domain, then address.
    """
    try:  # the common case in a few C-level passes; anything odd is told one by one below
        addresses = [r["address"] for r in rcpts]
        addresses_only = sum(map(len, rcpts)) == len(rcpts)
    except (KeyError, TypeError):
        addresses, addresses_only = [], False
    if not addresses_only or not are_addresses(addresses):
        for i, rcpt in enumerate(rcpts):
            where = f"recipients[{i}]"
            if not isinstance(rcpt, dict):
                errors[where] = "must be an object"
                continue
            personal = sorted(set(rcpt) - {"address"})
            if personal:
                errors[where] = (
                    f"a bulk job's recipients are addresses only ({', '.join(personal)} "
                    "given): everybody gets the one copy")
            if not is_address(rcpt.get("address")):
                errors[f"{where}.address"] = "not an email address"
            if len(errors) > 50:
                break
        if errors:
            return [], []
    joined = "\n".join(addresses).lower()
    domains = _DOMAINS.findall(joined)
    lowered = joined.split("\n")
    if all(map(operator.le, domains, islice(domains, 1, None))) and len(
            set(lowered)) == len(lowered):
        return addresses, domains
    # the first spelling of each address wins (reversed: a later duplicate is overwritten)
    unique = dict(zip(reversed(lowered), reversed(addresses), strict=True))
    ordered = sorted(zip(_DOMAINS.findall("\n".join(unique)), unique, strict=True))
    return [unique[a] for _, a in ordered], [d for d, _ in ordered]


def validate_job(data: Any, *, max_recipients: int = 1_000_000) -> Job:
    """Check a POST /v1/jobs body; raise InvalidRequest naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidRequest({"": "the body must be a JSON object"})
    errors: dict[str, str] = {}
    unknown = set(data) - set(JobIn.__annotations__)
    for name in sorted(unknown):
        errors[name] = "unknown field"
    message = b""
    if "message" in data and "message_b64" in data:
        errors["message"] = "give message or message_b64, not both"
    elif isinstance(data.get("message"), str):
        message = data["message"].encode("utf-8", "surrogateescape")
    elif isinstance(data.get("message_b64"), str):
        try:
            message = base64.b64decode(data["message_b64"], validate=True)
        except (binascii.Error, ValueError):
            errors["message_b64"] = "not valid base64"
    else:
        errors["message"] = "required: the raw message as a string (or message_b64)"
    if message and b"\n\n" not in message.replace(b"\r\n", b"\n") and b":" not in message[:1000]:
        errors["message"] = "not an RFC 5322 message (no header fields)"
    elif "message" not in errors and "message_b64" not in errors and not message.strip():
        errors["message"] = "empty message"
    mail_from = data.get("mail_from")
    if not (mail_from == "" or is_address(mail_from)):
        errors["mail_from"] = "not an email address"
    headers = _headers(data.get("headers"), "headers", errors)
    remove = data.get("remove_headers") or []
    if not isinstance(remove, list) or not all(isinstance(h, str) and _HEADER_NAME.match(h)
                                               for h in remove):
        errors["remove_headers"] = "must be a list of header names"
        remove = []
    footer = data.get("footer")
    if footer is not None:
        if not isinstance(footer, dict) or not isinstance(footer.get("text"), str):
            errors["footer"] = "must be an object with a text template"
            footer = None
        else:
            if set(footer) - {"text", "html"}:
                errors["footer"] = "only text and html are allowed"
            problem = check_template(footer["text"])
            if problem:
                errors["footer.text"] = problem
            if footer.get("html") is not None:
                if not isinstance(footer["html"], str):
                    errors["footer.html"] = "must be a string"
                else:
                    problem = check_template(footer["html"], html_template=True)
                    if problem:
                        errors["footer.html"] = problem
            footer = {k: v for k, v in footer.items() if v is not None}
    job_vars = data.get("vars") or {}
    if not isinstance(job_vars, dict):
        errors["vars"] = "must be an object"
        job_vars = {}
    rcpts = data.get("recipients")
    recipients: list[dict[str, Any]] = []
    addresses: list[str] = []
    domains: list[str] = []
    if not isinstance(rcpts, list) or not rcpts:
        errors["recipients"] = "must be a non-empty list"
    elif len(rcpts) > max_recipients:
        errors["recipients"] = f"at most {max_recipients} recipients per job"
    elif data.get("kind") == "bulk":
        addresses, domains = bulk_recipients(rcpts, errors)
    else:
        for i, rcpt in enumerate(rcpts):
            # (the place in the job is named only for an error: a fan-out's job has
            # thousands of recipients, each checked here)
            if not isinstance(rcpt, dict):
                errors[f"recipients[{i}]"] = "must be an object"
                continue
            if not _RECIPIENT_FIELDS.issuperset(rcpt):
                bad = set(rcpt) - _RECIPIENT_FIELDS
                errors[f"recipients[{i}]"] = f"unknown fields: {', '.join(sorted(bad))}"
            if not is_address(rcpt.get("address")):
                errors[f"recipients[{i}].address"] = "not an email address"
            if "mail_from" in rcpt and not (rcpt["mail_from"] == ""
                                            or is_address(rcpt["mail_from"])):
                errors[f"recipients[{i}].mail_from"] = "not an email address"
            vars_ = rcpt.get("vars", {})
            if not isinstance(vars_, dict):
                errors[f"recipients[{i}].vars"] = "must be an object"
            entry: dict[str, Any] = {"address": rcpt.get("address")}
            if rcpt.get("mail_from") is not None:
                entry["mail_from"] = rcpt["mail_from"]
            rh = _headers(rcpt.get("headers"), f"recipients[{i}].headers", errors) \
                if "headers" in rcpt else []
            if rh:
                entry["headers"] = rh
            if vars_:
                entry["vars"] = vars_
            recipients.append(entry)
            if len(errors) > 50:
                break
    dkim = data.get("dkim", True)
    if not isinstance(dkim, bool):
        errors["dkim"] = "must be true or false"
    lifetime = data.get("lifetime", DEFAULT_LIFETIME)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not (
            0 < lifetime <= 60 * 24 * 3600):
        errors["lifetime"] = "must be a whole number of seconds between 1 and 60 days"
    events = _events(data.get("events"), errors)
    meta = _meta(data.get("meta"), errors)
    kind = data.get("kind", "personal")
    if kind not in KINDS:
        errors["kind"] = f"must be one of {', '.join(KINDS)}"
    elif kind == "bulk" and not isinstance(data.get("vars", {}), dict):
        errors["vars"] = "must be an object (the footer's variables, the same for everyone)"
    if errors:
        raise InvalidRequest(errors)
    return Job(message=message, mail_from=mail_from, recipients=recipients, headers=headers,
               remove_headers=list(remove), footer=footer, vars=job_vars, dkim=dkim,
               lifetime=lifetime, events=events, meta=meta, kind=kind, addresses=addresses,
               domains=domains)


def _address_list(value: Any, where: str, errors: dict[str, str]) -> list[str]:
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        errors[where] = "must be an address or a list of addresses"
        return []
    from email.utils import getaddresses

    out = []
    for i, item in enumerate(items):
        parsed = getaddresses([item]) if isinstance(item, str) else []
        if len(parsed) != 1 or not is_address(parsed[0][1]):
            errors[f"{where}[{i}]" if len(items) > 1 or not isinstance(value, str)
                   else where] = "not an email address"
        else:
            out.append(item)
    return out


def validate_mail(data: Any) -> dict[str, Any]:
    """Check a POST /v1/mail body; returns it normalised (lists of addresses)."""
    if not isinstance(data, dict):
        raise InvalidRequest({"": "the body must be a JSON object"})
    errors: dict[str, str] = {}
    allowed = {"from", "to", "cc", "bcc", "subject", "text", "html", "headers", "reply_to",
               "meta", "events", "mail_from"}
    for name in sorted(set(data) - allowed):
        errors[name] = "unknown field"
    from email.utils import parseaddr

    sender = data.get("from")
    if not isinstance(sender, str) or not is_address(parseaddr(sender)[1]):
        errors["from"] = "required: an email address"
    out: dict[str, Any] = {"from": sender}
    for name in ("to", "cc", "bcc"):
        out[name] = _address_list(data.get(name), name, errors)
    if not (out["to"] or out["cc"] or out["bcc"]):
        errors.setdefault("to", "at least one recipient is required")
    subject = data.get("subject", "")
    if not isinstance(subject, str) or "\n" in subject or "\r" in subject:
        errors["subject"] = "must be a single-line string"
    out["subject"] = subject
    for name in ("text", "html"):
        if data.get(name) is not None and not isinstance(data[name], str):
            errors[name] = "must be a string"
        out[name] = data.get(name)
    if not out["text"] and not out["html"]:
        errors.setdefault("text", "text or html is required")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        errors["headers"] = "must be an object of name: value"
        headers = {}
    out["headers"] = [[k, v] for k, v in _headers([[k, v] for k, v in headers.items()],
                                                  "headers", errors)]
    reply_to = data.get("reply_to")
    if reply_to is not None and not (isinstance(reply_to, str)
                                     and is_address(parseaddr(reply_to)[1])):
        errors["reply_to"] = "not an email address"
    out["reply_to"] = reply_to
    mail_from = data.get("mail_from")
    if mail_from is not None and not is_address(mail_from):
        errors["mail_from"] = "not an email address"
    out["mail_from"] = mail_from
    out["events"] = _events(data.get("events"), errors)
    out["meta"] = _meta(data.get("meta"), errors)
    if errors:
        raise InvalidRequest(errors)
    return out
