"""The website's one door to Karl for the mail it writes (confirmations, resets, invites).

Views send mail through Django's mail API (django.core.mail) so Django's own
password-reset views work unchanged; the EMAIL_BACKEND groups.web.karlbackend
hands each message to ``send_via_karl`` here. This is the only module that
knows the KarlClient's call, so adapting to it happens in one place.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail


def sender() -> str:
    """The From of the site's own mail."""
    configured = getattr(settings, "DEFAULT_FROM_EMAIL", "")
    if configured and configured != "webmaster@localhost":
        return configured
    return f"no-reply@{settings.GROUPS_DOMAIN}"


def send(to: str | list[str], subject: str, text: str) -> None:
    """Send one plain-text message; raises if the backend (Karl) refuses or is down."""
    send_mail(subject, text, sender(), [to] if isinstance(to, str) else list(to),
              fail_silently=False)


def send_via_karl(from_: str, to: list[str], subject: str, text: str,
                  html: str | None = None) -> None:
    """Hand one message to Karl (POST /v1/mail), which signs, spools and delivers it.

    With several Karl nodes (KARL_URLS) it goes to the node that sends to the first
    recipient's domain (karl.nodes), else to the next healthy one when that node
    certainly did not take it; a node that may have taken it is not tried again
    elsewhere (the caller sees the error, as with one Karl).
    """
    from karl import nodes
    from karl.client import KarlClient, KarlUnavailable

    kwargs = {"from_": from_, "to": to, "subject": subject, "text": text}
    if html:
        kwargs["html"] = html
    tried = nodes.candidates(to[0] if to else "")
    for n, url in enumerate(tried, 1):
        try:
            _send(KarlClient(base_url=url) if len(tried) > 1 else KarlClient(), kwargs)
            return
        except KarlUnavailable as exc:
            if len(tried) == 1:
                raise
            nodes.shared_health().mark_down(url)
            if n == len(tried) or not nodes.not_accepted(exc):
                raise


def _send(client, kwargs: dict) -> None:  # noqa: ANN001 - a KarlClient
    try:
        client.send_mail(**kwargs)
    except TypeError:
        if "html" not in kwargs:
            raise
        client.send_mail(**{k: v for k, v in kwargs.items() if k != "html"})
