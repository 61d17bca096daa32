"""Django's 500s to errord: the receiver of ``got_request_exception``, connected at start-up.

It lives with the Django app, not in errord, so that errord (like karl and smtpd)
never imports Django; errord.install only offers the handler. It reports
nothing in a process where errord reporting is not installed.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.signals import got_request_exception

from errord.handler import mark_reported
from errord.install import installed_handler


def django_got_request_exception(sender: Any = None, request: Any = None,
                                 **kwargs: Any) -> None:
    """Receiver of Django's ``got_request_exception``: report a 500 with its request."""
    handler = installed_handler()
    exc = sys.exc_info()[1]
    if handler is None or exc is None:
        return
    context: dict[str, Any] = {}
    if request is not None:
        context = {"method": getattr(request, "method", ""),
                   "path": getattr(request, "path", "")}
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            context["user"] = str(getattr(user, "pk", ""))
    handler.report_exception(exc, message=f"{context.get('method', '')} "
                             f"{context.get('path', '')} failed".strip(),
                             logger="django.request", context=context)
    mark_reported(exc)


def connect() -> None:
    """Connect the receiver (idempotent: one dispatch uid); GroupsConfig.ready calls it."""
    got_request_exception.connect(django_got_request_exception, weak=False,
                                  dispatch_uid="errord.got_request_exception")
