"""Keep Karl's heap from growing with the spool (glibc malloc tuning).

Karl parses jobs of tens of thousands of recipients and hands LevelDB write
batches of megabytes. glibc serves a large block with mmap and gives it back
when freed, but then raises its mmap threshold (up to 32 MB) so later blocks
of that size come from the heap, where freed memory is kept and fragments:
measured here, RSS grew by 40 MB over five 20,000-recipient jobs with nothing
live. Fixing the thresholds turns that dynamic adjustment off, so big blocks
keep going back to the system. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024  # blocks from 256 KiB up are mmap'd and unmapped when freed
TRIM_THRESHOLD = 1 << 20  # free heap above 1 MiB at the top is returned


def limit_heap_growth() -> bool:
    """Set glibc's mmap and trim thresholds; False where there is no glibc mallopt."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not ok:
        log.warning("mallopt refused the heap thresholds; memory may grow with the spool")
    return ok
