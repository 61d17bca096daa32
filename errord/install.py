"""Wire a process to errord: logging, uncaught exceptions, asyncio, Celery, Django.

``install(service)`` is called once by each process's entry point (through
``platformcore.observability.install_reporting``); calling it again is harmless. It
adds the ``ErrordHandler`` to the root logger and wraps ``sys.excepthook`` and
``threading.excepthook`` (the previous hooks still run, so the traceback is
still printed locally). Event loops set ``asyncio_exception_handler``; Celery
workers call ``install_celery``. Django's 500s are connected by the Django
app itself (groups.errorreports), so errord never imports Django; nothing
here imports Celery unless the process asks for it.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from errord.handler import ErrordHandler, reporting_suppressed

_handler: ErrordHandler | None = None
_install_lock = threading.Lock()


def installed_handler() -> ErrordHandler | None:
    """The handler ``install`` put on the root logger, if any."""
    return _handler


def install(service: str, **handler_options: Any) -> ErrordHandler:
    """Report this process's errors to errord as ``service``; idempotent."""
    global _handler
    with _install_lock:
        root = logging.getLogger()
        existing = next((h for h in root.handlers if isinstance(h, ErrordHandler)), None)
        if existing is not None:
            _handler = existing
        else:
            if _handler is None:
                _handler = ErrordHandler(service, **handler_options)
            root.addHandler(_handler)
        _install_hooks()
    return _handler


def _install_hooks() -> None:
    if not getattr(sys.excepthook, "_errord", False):
        previous = sys.excepthook

        def excepthook(exc_type, exc, tb):
            if _handler is not None and not issubclass(exc_type, KeyboardInterrupt):
                _handler.report_exception(exc, logger="sys.excepthook",
                                          level="CRITICAL", context={"uncaught": True})
            previous(exc_type, exc, tb)

        excepthook._errord = True  # type: ignore[attr-defined]
        sys.excepthook = excepthook

    if not getattr(threading.excepthook, "_errord", False):
        previous_thread_hook = threading.excepthook

        def thread_excepthook(args):
            if _handler is not None and args.exc_value is not None and not issubclass(
                    args.exc_type, SystemExit):
                name = args.thread.name if args.thread is not None else "?"
                _handler.report_exception(args.exc_value, logger="threading.excepthook",
                                          context={"uncaught": True, "thread": name})
            previous_thread_hook(args)

        thread_excepthook._errord = True  # type: ignore[attr-defined]
        threading.excepthook = thread_excepthook


def asyncio_exception_handler(loop: Any, context: dict[str, Any]) -> None:
    """``loop.set_exception_handler`` target: report, then log locally as asyncio does."""
    if _handler is not None:
        exc = context.get("exception")
        message = str(context.get("message") or "unhandled exception in event loop")
        details = {k: repr(v)[:500] for k, v in context.items() if k not in ("exception",
                                                                               "message")}
        if isinstance(exc, BaseException):
            _handler.report_exception(exc, message=message, logger="asyncio", context=details)
        else:
            _handler.report_message(message, logger="asyncio", context=details)
    with reporting_suppressed():  # the default handler's log line is local only
        loop.default_exception_handler(context)


def _task_failure(sender: Any = None, task_id: str | None = None,
                  exception: BaseException | None = None, einfo: Any = None,
                  **kwargs: Any) -> None:
    if _handler is None or exception is None:
        return
    name = getattr(sender, "name", None) or str(sender)
    tb = str(getattr(einfo, "traceback", "") or "")
    _handler.report_exception(exception, message=f"task {name} failed", tb=tb,
                              logger="celery.task_failure",
                              context={"task": name, "task_id": task_id})


def _readd_handler(*args: Any, **kwargs: Any) -> None:
    """Celery replaces the root logger's handlers when it sets up logging: put ours back."""
    if _handler is not None:
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


def install_celery(app_or_signal: Any = None, service: str = "worker") -> ErrordHandler:
    """Report failed Celery tasks: connect ``task_failure`` (of celery, or the one given)."""
    from celery import signals
    from celery.utils.dispatch import Signal

    handler = _handler or install(service)
    signal = app_or_signal if isinstance(app_or_signal, Signal) else signals.task_failure
    signal.connect(_task_failure, weak=False, dispatch_uid="errord.task_failure")
    signals.after_setup_logger.connect(_readd_handler, weak=False,
                                       dispatch_uid="errord.after_setup_logger")
    return handler
