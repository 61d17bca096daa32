"""The logging handler every process installs: ship ERROR and above to errord.

It must never block or crash its host, whatever errord is doing:
- ``emit`` only builds a small dict and puts it on a bounded in-memory queue
  (``put_nowait``); when the queue is full the report is dropped and counted;
- a daemon thread sends the queue in batches with short timeouts, retries with
  a growing pause while errord is down, and gives a batch up (counted as
  dropped) when errord has been down for longer than ``give_up_after``;
- once errord answers again, the count is reported as "N errors dropped";
- after ``fork`` (Celery prefork workers) the child gets a fresh queue and
  starts its own thread lazily: the parent's thread does not exist there.

It adds nothing to the local log: the normal logging configuration still
writes its own line for every record.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import socket
import threading
import time
import traceback
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from errord.client import ErrordClient, ErrordError, ErrordUnavailable

log = logging.getLogger("errord.handler")

_MARK = "__errord_reported__"
_local = threading.local()


def already_reported(exc: BaseException | None) -> bool:
    return exc is not None and getattr(exc, _MARK, False) is True


def mark_reported(exc: BaseException | None) -> None:
    """Remember that ``exc`` went to errord, so a later log of it is not sent twice."""
    if exc is None:
        return
    try:
        setattr(exc, _MARK, True)
    except (AttributeError, TypeError):  # exceptions with __slots__ refuse attributes
        pass


@contextmanager
def reporting_suppressed() -> Iterator[None]:
    """Records logged in this block (in this thread) are not sent to errord."""
    previous = getattr(_local, "suppressed", False)
    _local.suppressed = True
    try:
        yield
    finally:
        _local.suppressed = previous


def _exc_type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _now_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


class ErrordHandler(logging.Handler):
    """Queue ERROR records for errord; see the module docstring for the guarantees."""

    def __init__(self, service: str, base_url: str | None = None, token: str | None = None, *,
                 capacity: int = 1000, batch_size: int = 100, timeout: float = 2.0,
                 give_up_after: float = 30.0, max_pause: float = 2.0,
                 level: int = logging.ERROR):
        super().__init__(level)
        from platformcore.env import PROJECT_DIR

        self.service = service
        self.host = socket.gethostname()
        self.project_dir = str(PROJECT_DIR)
        self.base_url = base_url
        self.token = token
        self.capacity = capacity
        self.batch_size = batch_size
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.max_pause = max_pause
        self.addFilter(self._not_ours_to_send)
        self._reset()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (h := ref()) is not None and h._reset())
        # logging.shutdown flushes only handlers still registered; dictConfig unregisters.
        atexit.register(lambda: (h := ref()) is not None and h.flush())

    # -- state, rebuilt in a forked child -------------------------------------------------

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(self.capacity)
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._sender_ident: int | None = None
        self._dropped = 0
        self.down_since: float | None = None
        self.sent = 0

    @property
    def dropped(self) -> int:
        """Reports dropped and not yet announced to errord."""
        return self._dropped

    def _count_dropped(self, n: int = 1) -> None:
        with self._state_lock:
            self._dropped += n

    def _take_dropped(self) -> int:
        with self._state_lock:
            n, self._dropped = self._dropped, 0
        return n

    def _not_ours_to_send(self, record: logging.LogRecord) -> bool:
        """Skip the sender thread's own records and suppressed blocks (no loops)."""
        if getattr(_local, "suppressed", False):
            return False
        return self._sender_ident is None or threading.get_ident() != self._sender_ident

    # -- the host's side: never blocks, never raises --------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc = record.exc_info[1] if record.exc_info else None
            if already_reported(exc):
                return
            self.submit(self.record_report(record))
            mark_reported(exc)
        except Exception:
            self._count_dropped()

    def record_report(self, record: logging.LogRecord) -> dict[str, Any]:
        """The errord report of a log record."""
        tb, exc_type = "", ""
        if record.exc_info and record.exc_info[1] is not None:
            formatter = self.formatter or logging.Formatter()
            tb = formatter.formatException(record.exc_info)
            exc_type = _exc_type_name(record.exc_info[1])
        elif record.exc_text:
            tb = record.exc_text
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: still report what we have
            message = f"{record.msg!r} % {record.args!r}"
        context: dict[str, Any] = {
            "logger": record.name,
            "where": f"{record.pathname}:{record.lineno}",
            "function": record.funcName,
            "thread": record.threadName,
        }
        if record.stack_info:
            context["stack"] = record.stack_info
        extra = getattr(record, "errord_context", None)
        if isinstance(extra, dict):
            context.update(extra)
        return self._report(message, tb, exc_type, record.levelname, context, record.created)

    def _report(self, message: str, tb: str, exc_type: str, level: str,
                context: dict[str, Any], created: float | None = None) -> dict[str, Any]:
        context.setdefault("project_dir", self.project_dir)
        return {"service": self.service, "host": self.host, "pid": os.getpid(),
                "level": level, "message": message, "traceback": tb, "exc_type": exc_type,
                "context": context, "at": _now_iso(created)}

    def report_exception(self, exc: BaseException, *, message: str = "", tb: str = "",
                         logger: str = "", level: str = "ERROR",
                         context: dict[str, Any] | None = None) -> None:
        """Send an exception that no log record carries (uncaught ones, signals)."""
        try:
            if already_reported(exc):
                return
            tb = tb or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            lines = traceback.format_exception_only(type(exc), exc)
            text = (lines[-1] if lines else type(exc).__name__).strip()
            ctx = {"logger": logger, **(context or {})}
            body = f"{message}: {text}" if message else text
            self.submit(self._report(body, tb, _exc_type_name(exc), level, ctx))
            mark_reported(exc)
        except Exception:
            self._count_dropped()

    def report_message(self, message: str, *, logger: str = "", level: str = "ERROR",
                       context: dict[str, Any] | None = None) -> None:
        """Send a message without exception (e.g. an asyncio loop complaint)."""
        try:
            self.submit(self._report(message, "", "", level, {"logger": logger,
                                                              **(context or {})}))
        except Exception:
            self._count_dropped()

    def submit(self, report: dict[str, Any]) -> None:
        """Queue one report; drop and count it when the queue is full."""
        if os.getpid() != self._pid:
            self._reset()
        self._ensure_thread()
        try:
            self._queue.put_nowait(report)
        except queue.Full:
            self._count_dropped()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._state_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            thread = threading.Thread(target=self._run, name="errord-sender", daemon=True)
            thread.start()
            self._thread = thread

    # -- the sender thread -----------------------------------------------------------------

    def _next_batch(self) -> list[dict[str, Any]]:
        try:
            batch = [self._queue.get(timeout=0.5)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _dropped_report(self, n: int) -> dict[str, Any]:
        return self._report(
            f"{n} errors dropped: errord was unreachable or the queue of {self.capacity} was "
            "full", "", "", "ERROR", {"logger": "errord.handler", "dropped": n})

    def _run(self) -> None:
        self._sender_ident = threading.get_ident()
        client: ErrordClient | None = None
        pending: list[dict[str, Any]] = []
        pause = 0.1
        try:
            client = ErrordClient(self.base_url, self.token, timeout=self.timeout)
            while True:
                if not pending:
                    pending = self._next_batch()
                    if not pending and not self._dropped:
                        continue
                dropped = self._take_dropped()
                batch = pending + ([self._dropped_report(dropped)] if dropped else [])
                try:
                    client.report_many(batch)
                except ErrordError as exc:
                    self._count_dropped(dropped)
                    if isinstance(exc, ErrordUnavailable) or exc.status >= 500:
                        pending = self._settle(pending, self._after_failure(pending, exc))
                        time.sleep(pause)
                        pause = min(pause * 2, self.max_pause)
                    else:  # errord refused the batch itself: resending cannot help
                        log.warning("errord refused %d error reports: %s", len(pending), exc)
                        self._count_dropped(len(pending))
                        pending = self._settle(pending, [])
                    continue
                self.sent += len(pending)
                pending, pause = self._settle(pending, []), 0.1
                if self.down_since is not None:
                    log.warning("errord is reachable again after %.0fs",
                                time.monotonic() - self.down_since)
                    self.down_since = None
        except Exception:  # never let the sender die silently with reports queued
            log.warning("errord sender stopped", exc_info=True)
        finally:
            if client is not None:
                client.close()

    def _settle(self, pending: list[dict[str, Any]],
                keep: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mark the reports of ``pending`` not kept as done (``flush`` waits for that)."""
        for _ in range(len(pending) - len(keep)):
            self._queue.task_done()
        return keep

    def _after_failure(self, pending: list[dict[str, Any]],
                       exc: Exception) -> list[dict[str, Any]]:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            log.warning("cannot send errors to errord (%s); keeping them for %.0fs",
                        exc, self.give_up_after)
        if now - self.down_since > self.give_up_after:
            self._count_dropped(len(pending))
            return []
        return pending

    # -- shutdown ---------------------------------------------------------------------------

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until what is queued has been sent; never when errord is down."""
        if os.getpid() != self._pid or self._thread is None or not self._thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.down_since is None:
            if self._queue.unfinished_tasks == 0:
                return
            time.sleep(0.01)

    def close(self) -> None:
        """Flush (logging.shutdown calls this at exit); the sender thread is a daemon.

        The handler stays usable after close: ``logging.config.dictConfig``
        (Django's setup) closes every handler it replaces, and a later
        ``install()`` puts this one back.
        """
        try:
            self.flush()
        finally:
            super().close()
