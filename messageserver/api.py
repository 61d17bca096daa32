"""messageserver's JSON API (served by ``python -m messageserver``, see docs/design.md).

Thin views: check the token, validate the body, call the pipeline, map the
domain outcome to an HTTP status. Every error is a JSON object naming what
was wrong; a failure inside the pipeline is a 500 (smtpd then answers 451 and
the sender retries: nothing is lost).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from groups.models import Group, Membership, Message, OutboxItem
from messageserver import (
    deliveryevents,
    edits,
    envelope,
    heldedit,
    metrics,
    moderation,
    pipeline,
    posts,
    richpost,
)
from messageserver.inbound import InboundMail
from messageserver.mailparse import parse
from platformcore.env import get_env
from platformcore.internalhttp import token_ok

log = logging.getLogger(__name__)
MAX_BODY = get_env().max_message_size * 2 + 65536  # base64 inflates by 4/3


# A refusal's SMTP code follows its enhanced status (RFC 3463): 552 for "too big",
# 554 for a message that can't be taken at all; 550 for the rest (mailbox/policy).
REFUSAL_CODES = {"5.3.4": 552, "5.6.0": 554}


class FieldError(Exception):
    def __init__(self, fields: dict[str, str]):
        super().__init__(", ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def internal(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
    """Token check, JSON body parsing and JSON errors for an internal endpoint."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not token_ok(request.headers.get("Authorization"), get_env().internal_api_token):
            return JsonResponse({"error": "missing or wrong internal API token"}, status=401)
        body: Any = None
        if request.method == "POST":
            if len(request.body) > MAX_BODY:
                return JsonResponse({"error": f"body over the limit of {MAX_BODY} bytes"},
                                    status=400)
            try:
                body = json.loads(request.body or b"null")
            except (ValueError, UnicodeDecodeError) as exc:
                return JsonResponse({"error": f"malformed JSON: {exc}"}, status=400)
            if not isinstance(body, dict):
                return JsonResponse({"error": "the body must be a JSON object"}, status=400)
        try:
            return view(request, body, *args, **kwargs)
        except FieldError as exc:
            return JsonResponse({"error": "invalid request", "fields": exc.fields}, status=422)

    return wrapper


def _str(body: dict, name: str, required: bool = True, default: str = "") -> str:
    value = body.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise FieldError({name: "must be a string"})
    if required and not value.strip():
        raise FieldError({name: "is required"})
    return value


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise FieldError({name: "must be a base64 string"})
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError({name: "is not valid base64"}) from None


@internal
def recipient_check(request: HttpRequest, body: dict) -> HttpResponse:
    outcome = pipeline.check_recipient(_str(body, "address"))
    ok = outcome.kind == "accepted"
    return JsonResponse({"ok": ok, "code": 250 if ok else 550, "status": outcome.status,
                         "reason": outcome.reason})


@internal
def inbound(request: HttpRequest, body: dict) -> HttpResponse:
    mail_from = envelope.reverse_path(_str(body, "mail_from", required=False))
    rcpts = body.get("rcpt_tos")
    if not isinstance(rcpts, list) or not rcpts or not all(isinstance(r, str) for r in rcpts):
        raise FieldError({"rcpt_tos": "must be a non-empty list of addresses"})
    raw = _b64(body.get("data_b64"), "data_b64")
    results = pipeline.handle_inbound(mail_from, rcpts, raw,
                                      via=_str(body, "via", required=False, default="smtp"),
                                      peer=_str(body, "peer", required=False),
                                      helo=_str(body, "helo", required=False))
    out = [{"rcpt": r, **o.as_dict(), "code": 250 if o.accepted else 550}
           for r, o in results]
    taken = [o for _, o in results if o.accepted]
    if taken:
        code, status, reason = 250, "2.0.0", taken[0].reason or "message accepted"
        if taken[0].kind == "held":
            reason = f"message held for moderation: {taken[0].reason}"
    else:
        first = results[0][1]
        status = first.status or "5.7.1"
        # a temporary refusal (4.x.x: DNS failure while authenticating) asks for a retry
        code = 451 if status.startswith("4") else REFUSAL_CODES.get(status, 550)
        reason = first.reason
    return JsonResponse({"code": code, "status": status, "reason": reason, "results": out})


@internal
def web_post(request: HttpRequest, body: dict) -> HttpResponse:
    group = Group.objects.filter(name=_str(body, "group")).first()
    if group is None:
        return JsonResponse({"error": "no such group", "fields": {"group": "no such group"}},
                            status=404)
    sender = _str(body, "sender_email").strip().lower()
    subject = _str(body, "subject", required=False)
    text = _str(body, "text", required=False)
    html = _str(body, "html", required=False)
    text_format = _str(body, "format", required=False, default="plain")
    if text_format not in ("plain", "markdown"):
        raise FieldError({"format": "must be plain or markdown"})
    if text_format == "markdown" and html:
        raise FieldError({"html": "a Markdown post's HTML is rendered here; send text only"})
    if not text.strip() and not html.strip():
        raise FieldError({"text": "a post needs a body"})
    for name, value in (("subject", subject), ("text", text), ("html", html)):
        if "\x00" in value:
            raise FieldError({name: "may not contain NUL characters"})
    if "\n" in subject or "\r" in subject:
        raise FieldError({"subject": "may not contain line breaks"})
    reply_to = None
    number = body.get("reply_to_number")
    if number is not None:
        if not isinstance(number, int):
            raise FieldError({"reply_to_number": "must be a message number"})
        reply_to = Message.objects.filter(group=group, number=number, deleted=False).first()
        if reply_to is None:
            raise FieldError({"reply_to_number": f"no message #{number} in {group.name}"})
        if not subject.strip():
            subject = "Re: " + reply_to.topic.subject
    if not subject.strip():
        raise FieldError({"subject": "is required"})
    attachments = []
    for i, att in enumerate(body.get("attachments") or []):
        if not isinstance(att, dict):
            raise FieldError({f"attachments[{i}]": "must be an object"})
        filename = _str(att, "filename")
        if any(c in filename for c in "\r\n/\\"):
            raise FieldError({f"attachments[{i}].filename": "may not contain / \\ or line breaks"})
        attachments.append((filename, _str(att, "content_type", required=False,
                                           default="application/octet-stream"),
                            _b64(att.get("data_b64"), f"attachments[{i}].data_b64")))
    membership = Membership.objects.filter(group=group, email=sender).select_related(
        "user").first()
    name = membership.name if membership else sender.split("@")[0]
    parts = richpost.bodies(text, attachments, markdown_source=text_format == "markdown",
                            title=subject, html=html)
    raw = posts.compose(group, sender, name, subject, parts.text, parts.html, reply_to,
                        parts.attachments, inline=parts.inline,
                        markdown=text_format == "markdown")
    parsed = parse(raw)
    inbound_mail = InboundMail(mail_from=sender, raw=parsed.raw, parsed=parsed,
                               now=timezone.now(), via="web")
    outcome = posts.submit_post(group, inbound_mail, source=Message.Source.WEB,
                                membership=membership)
    metrics.POSTS.labels(outcome=outcome.kind).inc()
    if outcome.kind == "rejected":
        return JsonResponse({"error": outcome.reason, **outcome.as_dict()}, status=403)
    return JsonResponse(outcome.as_dict())


@internal
def edit_post(request: HttpRequest, body: dict) -> HttpResponse:
    """A member's edit of their own post (messageserver.edits holds the rule)."""
    group = Group.objects.filter(name=_str(body, "group")).first()
    number = body.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise FieldError({"number": "must be a message number"})
    message = None if group is None else Message.objects.select_related(
        "group", "topic", "membership").filter(group=group, number=number).first()
    if message is None:
        return JsonResponse({"error": "no such message", "field": "number"}, status=404)
    editor = Membership.objects.filter(
        group=group, email=_str(body, "editor_email").strip().lower()).first()
    text_format = _str(body, "format", required=False, default="plain")
    if text_format not in ("plain", "markdown"):
        raise FieldError({"format": "must be plain or markdown"})
    subject, text = _str(body, "subject", required=False), _str(body, "text", required=False)
    for name, value in (("subject", subject), ("text", text)):
        if "\x00" in value:
            raise FieldError({name: "may not contain NUL characters"})
    try:
        count = edits.apply(message, editor, subject, text,
                            markdown_source=text_format == "markdown", now=timezone.now())
    except PermissionError as exc:
        return JsonResponse({"error": str(exc), "reason": str(exc)}, status=403)
    except edits.EditError as exc:
        raise FieldError({"text" if exc.field == "body" else exc.field: exc.problem}) from None
    message.refresh_from_db()
    return JsonResponse({"outcome": "edited", "number": message.number,
                         "edited_at": message.edited_at.isoformat() if message.edited_at
                         else None, "correction_recipients": count})


@internal
def moderate(request: HttpRequest, body: dict, held_id: int) -> HttpResponse:
    action = _str(body, "action")
    if action not in moderation.ACTIONS:
        raise FieldError({"action": f"must be one of {', '.join(moderation.ACTIONS)}"})
    edit = {name: body[name] for name in ("subject", "body") if body.get(name) is not None}
    for name, value in edit.items():
        if not isinstance(value, str):
            raise FieldError({name: "must be a string"})
    if len(edit) == 1:
        raise FieldError({"subject" if "body" in edit else "body":
                          "an edit needs both subject and body"})
    try:
        outcome = moderation.decide(held_id, action, _str(body, "moderator"),
                                    _str(body, "reason", required=False), **edit)
    except heldedit.EditError as exc:
        raise FieldError({exc.field: exc.problem}) from exc
    except moderation.ModerationError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse(outcome.as_dict())


@internal
def delivery_events(request: HttpRequest, body: dict) -> HttpResponse:
    events = body.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise FieldError({"events": "must be a list of objects"})
    return JsonResponse({"accepted": len(events), "matched": deliveryevents.record(events)})


@csrf_exempt
def health(request: HttpRequest) -> HttpResponse:
    checks: dict[str, Any] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        checks["outbox_pending"] = OutboxItem.objects.filter(
            state=OutboxItem.State.PENDING).count()
        # refused by Karl (a platform bug, reported to errord; see manage.py outbox --failed)
        checks["outbox_failed"] = OutboxItem.objects.filter(
            state=OutboxItem.State.FAILED).count()
    except Exception as exc:  # report, don't crash: this is what /health is for
        ok = False
        checks["database"] = f"error: {exc}"
    return JsonResponse({"status": "ok" if ok else "failing", "checks": checks},
                        status=200 if ok else 503)


@internal
def metrics_view(request: HttpRequest, body: Any) -> HttpResponse:
    return HttpResponse(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST)
