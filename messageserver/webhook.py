"""Inbound mail by webhook, for sites whose mail arrives through a provider's inbound parse.

SendGrid Inbound Parse (raw mode) posts multipart/form-data with the whole
message in the ``email`` field and the envelope as JSON in ``envelope``;
Mailgun posts ``body-mime`` with ``sender`` and ``recipient`` (and signs the
post with ``timestamp``, ``token``, ``signature``). Either way the message is
handed to exactly ``pipeline.handle_inbound(..., via="webhook")``, the path
smtpd's mail takes, so every rule applies the same.

Authentication, with the shared secret INBOUND_WEBHOOK_SECRET (the endpoint is
off while it is unset): HTTP Basic with the secret as password (any user
name), ``?key=SECRET`` in the URL, or Mailgun's HMAC-SHA256 signature of
timestamp+token under the secret (fresh within MAX_SKEW, each token once).

Answers are JSON. 2xx only once the message is durably handled; a failure in
the pipeline is a 500 so the provider retries and nothing is lost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from email import message_from_bytes
from email.policy import compat32
from urllib.parse import parse_qs

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from messageserver import pipeline
from messageserver.envelope import reverse_path
from platformcore.env import env_str, get_env

log = logging.getLogger(__name__)

MAX_SKEW = 15 * 60  # seconds a Mailgun signature stays acceptable


class BadRequest(ValueError):
    """The post is not a form we understand; the message says what is missing."""


def secret() -> str:
    return env_str("INBOUND_WEBHOOK_SECRET", "")


def max_body() -> int:
    return get_env().max_message_size * 2 + 65536


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """Fields of a multipart/form-data or urlencoded post, as bytes (the MIME stays exact).

    Django's own parser caps text fields at DATA_UPLOAD_MAX_MEMORY_SIZE, far
    below a message with attachments; the email package splits the parts
    without any cap but ours (max_body, checked before).
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("the form is not UTF-8") from None
        return {k: v[0].encode("utf-8") for k, v in pairs.items()}
    if ctype != "multipart/form-data" or "boundary=" not in content_type:
        raise BadRequest("post multipart/form-data (or application/x-www-form-urlencoded)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = message_from_bytes(head + body, policy=compat32)
    if not msg.is_multipart():
        raise BadRequest("malformed multipart/form-data body")
    fields: dict[str, bytes] = {}
    for part in msg.get_payload():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        fields.setdefault(str(name), payload if isinstance(payload, bytes) else b"")
    return fields


def authorized(request: HttpRequest, fields: dict[str, bytes], key: str) -> bool | None:
    """True when a credential matches, False when one was given but is wrong, None if none."""
    given = False
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        given = True
        try:
            _user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            password = ""
        if hmac.compare_digest(password.encode(), key.encode()):
            return True
    if "key" in request.GET:
        given = True
        if hmac.compare_digest(request.GET["key"].encode(), key.encode()):
            return True
    if "signature" in fields:
        given = True
        if mailgun_signature_ok(fields, key):
            return True
    return False if given else None


def mailgun_signature_ok(fields: dict[str, bytes], key: str) -> bool:
    """Mailgun: hex HMAC-SHA256(key, timestamp + token), fresh, and each token used once."""
    timestamp = fields.get("timestamp", b"").decode("ascii", "replace")
    token = fields.get("token", b"").decode("ascii", "replace")
    signature = fields.get("signature", b"").decode("ascii", "replace")
    if not (timestamp.isdigit() and token and signature):
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        return False
    if abs(time.time() - int(timestamp)) > MAX_SKEW:
        return False
    digest = hashlib.sha256(token.encode()).hexdigest()[:40]
    return cache.add(f"mailgun-token:{digest}", 1, timeout=2 * MAX_SKEW)  # a replay fails


def envelope(fields: dict[str, bytes]) -> tuple[str, list[str], bytes]:
    """(mail_from, rcpt_tos, raw) from either provider's fields."""
    raw = fields.get("email") or fields.get("body-mime")
    if not raw:
        raise BadRequest("no message: expected the raw MIME in 'email' (SendGrid raw mode) "
                         "or 'body-mime' (Mailgun)")
    mail_from, rcpts = "", []
    if fields.get("envelope"):
        try:
            env = json.loads(fields["envelope"])
        except ValueError:
            raise BadRequest("'envelope' is not JSON") from None
        if not isinstance(env, dict):
            raise BadRequest("'envelope' must be a JSON object with 'from' and 'to'")
        mail_from = env.get("from") or ""
        to = env.get("to") or []
        rcpts = [to] if isinstance(to, str) else list(to)
    else:
        mail_from = fields.get("sender", b"").decode("utf-8", "replace")
        rcpts = fields.get("recipient", b"").decode("utf-8", "replace").split(",")
    rcpts = [r.strip() for r in rcpts if isinstance(r, str) and r.strip()]
    if not rcpts:
        raise BadRequest("no recipients: expected envelope.to (SendGrid) or recipient "
                         "(Mailgun)")
    if not isinstance(mail_from, str):
        raise BadRequest("the envelope sender must be a string")
    return reverse_path(mail_from), rcpts, raw


@csrf_exempt
def inbound_webhook(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST the message here"}, status=405)
    key = secret()
    if not key:
        return JsonResponse({"error": "the inbound webhook is off: set INBOUND_WEBHOOK_SECRET"},
                            status=404)
    body = request.read(max_body() + 1)
    if len(body) > max_body():
        return JsonResponse({"error": f"body over the limit of {max_body()} bytes"}, status=413)
    try:
        fields = parse_form(request.META.get("CONTENT_TYPE", ""), body)
    except BadRequest as exc:
        fields = {}
        parse_error: str | None = str(exc)
    else:
        parse_error = None
    ok = authorized(request, fields, key)
    if ok is None:
        response = JsonResponse({"error": "authentication required: HTTP Basic, ?key= or a "
                                          "Mailgun signature"}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="inbound"'
        return response
    if not ok:
        return JsonResponse({"error": "wrong credentials or signature"}, status=403)
    if parse_error:
        return JsonResponse({"error": parse_error}, status=400)
    try:
        mail_from, rcpts, raw = envelope(fields)
    except BadRequest as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    results = pipeline.handle_inbound(mail_from, rcpts, raw, via="webhook",
                                      peer=request.META.get("REMOTE_ADDR", ""))
    return JsonResponse({"results": [{"rcpt": r, **o.as_dict()} for r, o in results]})
