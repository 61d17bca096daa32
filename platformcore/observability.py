"""Set up a process's logging and hand its errors to whichever reporter it names.

Each process's entry point calls ``install_reporting(service, reporter)`` once,
passing errord's installer (``errord.install.install``). The core names no
reporter itself: errord depends on the core, never the reverse, and a process
without errord passes none and still gets its log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable


def install_reporting(service: str, reporter: Callable[[str], object] | None = None) -> None:
    """Log as ``service`` (time, level, logger) and install ``reporter(service)`` if given."""
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    if reporter is not None:
        reporter(service)
