"""A lock file holding the PID of the one process allowed to run on some data.

``runplatform`` takes ``DATA_DIR/runplatform.pid`` and Karl takes
``SPOOL/karl.pid``: a second one on the same data would fight the first over
ports, the spool and the outbox, so it refuses to start and names the running
one instead. The lock is ``fcntl.flock`` on an open file, so the kernel drops
it when the holder dies however it dies (kill -9 included): a stale file
never blocks a restart. The descriptor is not inherited by children (Python's
default), so a child left running cannot keep its parent's lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another live process holds the lock; ``pid`` is the one it wrote (0 if unreadable)."""

    def __init__(self, what: str, path: Path, pid: int) -> None:
        who = f"pid {pid}" if pid else "a process whose pid could not be read"
        super().__init__(f"another {what} is already running on this data ({who}, lock file "
                         f"{path}); stop it first")
        self.pid, self.path = pid, path


class PidLock:
    """Hold ``path`` for this process; ``acquire`` raises AlreadyRunning when it is taken."""

    def __init__(self, path: Path | str, what: str) -> None:
        self.path, self.what = Path(path), what
        self.fd: int | None = None

    def acquire(self) -> PidLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(self.what, self.path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock; the file stays (harmless)
            self.fd = None

    def __enter__(self) -> PidLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int:
    raw = os.pread(fd, 32, 0).strip()
    return int(raw) if raw.isdigit() else 0
