"""errord's own errors, written straight into its own store (no HTTP to itself).

Sending its errors to itself over HTTP could loop when the failure is in the
receiving path; writing them directly keeps them visible in ``manage.py
errors`` like any other service's, and a failure here is only logged locally.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from errord.reports import Report
from errord.store import Store

_busy = threading.local()


class StoreHandler(logging.Handler):
    """Record errord's ERROR log records as reports of the service "errord"."""

    def __init__(self, store: Store, level: int = logging.ERROR):
        super().__init__(level)
        self.store = store
        self.host = socket.gethostname()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_busy, "active", False):
            return
        _busy.active = True
        try:
            tb = ""
            exc = record.exc_info[1] if record.exc_info else None
            if record.exc_info and exc is not None:
                tb = (self.formatter or logging.Formatter()).formatException(record.exc_info)
            self.store.add([Report(
                service="errord", message=record.getMessage(), traceback=tb, host=self.host,
                pid=os.getpid(), level=record.levelname,
                exc_type=type(exc).__name__ if exc is not None else "",
                context={"logger": record.name, "where": f"{record.pathname}:{record.lineno}",
                         "function": record.funcName},
                at=record.created)])
        except Exception:
            self.handleError(record)
        finally:
            _busy.active = False
