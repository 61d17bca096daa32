"""A Django email backend that sends through Karl, so every mail is signed and spooled.

Set ``EMAIL_BACKEND = "groups.web.karlbackend.KarlEmailBackend"``; Django's
password reset and our own confirmations then reach Karl's POST /v1/mail
instead of talking SMTP from the web process.
"""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from groups.web.mail import send_via_karl


class KarlEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            recipients = message.recipients()
            if not recipients:
                continue
            html = None
            for content, mimetype in getattr(message, "alternatives", []) or []:
                if mimetype == "text/html":
                    html = content
            try:
                send_via_karl(message.from_email, recipients, message.subject, message.body,
                              html=html)
            except Exception:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
