"""Install error reporting to errord in a process, whichever parts exist.

Each process's entry point calls ``install_reporting(service)`` once.
"""

from __future__ import annotations

import logging


def install_reporting(service: str) -> None:
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    try:
        from errord.install import install
    except ImportError:  # errord not installed in this deployment
        return
    install(service)
