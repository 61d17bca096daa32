"""One process tree: every process the platform starts dies when its parent dies.

Linux sends a child the signal chosen with ``prctl(PR_SET_PDEATHSIG)`` when
the *thread* that created it exits, so the call must be made in the child,
for a parent whose creating thread lives as long as the parent process (the
main thread, or the event loop's). The signal is only armed from the moment
of the call: a parent that died just before it would never signal, so the
child compares ``getppid()`` with the parent it expects right after and exits
at once when they differ (it has been adopted by init or a subreaper).

Two ways in, one rule:
  * ``preexec(parent)`` for ``subprocess.Popen(preexec_fn=...)``: armed
    between fork and exec (it survives exec), used by the supervisor;
  * ``die_with_parent(parent)`` at the start of a process Python spawned or
    forked (Karl's delivery workers, Celery's embedded beat and pool
    workers), the parent's pid handed over by the parent.
multiprocessing's resource tracker needs neither: it reads a pipe whose
writers are its parent and the workers, and exits at its EOF, which comes
when they are all gone.

What it must never do: kill anything itself. It only asks the kernel to.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _libc.prctl  # looked up now: a forked child must not load anything
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                   ctypes.c_ulong]
_prctl.restype = ctypes.c_int
_signal = _libc.signal  # signal(2): async-signal-safe, unlike Python's signal.signal
_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
_signal.restype = ctypes.c_void_p
_SIG_IGN = 1


def arm(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent thread exits."""
    if _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")


def die_with_parent(parent: int | None, sig: int = signal.SIGKILL) -> None:
    """Arm the signal, then exit at once if ``parent`` is already gone (the race).

    ``parent`` None means "whoever my parent is now" (no race check possible).
    """
    arm(sig)
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent died before we armed: nobody would ever signal us


def preexec(parent: int, sig: int = signal.SIGKILL, *,
            ignore_interrupt: bool = False) -> Callable[[], None]:
    """A ``preexec_fn`` that ties the child to ``parent`` (runs between fork and exec).

    Only async-signal-safe work happens in it: one prctl (already resolved),
    one getppid, and _exit. With ``ignore_interrupt`` the child also ignores
    SIGINT: it shares the terminal's foreground group with its supervisor, so
    a Ctrl-C would otherwise reach it directly (a KeyboardInterrupt traceback
    in every child) while the supervisor is already stopping it with SIGTERM.
    Python keeps an inherited SIG_IGN for SIGINT, so the child stays quiet.
    """
    def _tie() -> None:
        if _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(127)
        if ignore_interrupt:
            _signal(signal.SIGINT, _SIG_IGN)
    return _tie
