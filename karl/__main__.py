"""``python -m karl``: run Karl, the sender, with the platform's settings.

Flags override platformcore.env: --port, --spool, --relays (comma-separated).
One Karl per spool: a second one on the same spool exits with code 3 naming
the first (the lock file SPOOL/karl.pid).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aiohttp import web

from platformcore.env import SettingError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m karl", description=(
        "Karl: spools jobs in LevelDB, personalises, DKIM-signs and delivers them. "
        "Settings come from the environment (platformcore/env.py and KARL_* knobs)."))
    parser.add_argument("--port", type=int, help="listen port (default KARL_PORT)")
    parser.add_argument("--spool", type=Path, help="spool directory (default DATA_DIR/karl-spool)")
    parser.add_argument("--relays", help="comma-separated smtp://host:port, maildir:PATH or mx")
    parser.add_argument("--workers", type=int, help="delivery processes (default KARL_WORKERS)")
    args = parser.parse_args(argv)
    try:
        from karl.config import from_env

        config = from_env()
        relays = tuple(r.strip() for r in args.relays.split(",") if r.strip()) \
            if args.relays else None
        for relay in relays or ():
            if not (relay.startswith(("smtp://", "smtps://", "maildir:")) or relay == "mx"):
                raise SettingError(f"--relays entry {relay!r} is not smtp://, maildir: or mx")
        config = config.with_overrides(port=args.port, spool_dir=args.spool, relays=relays,
                                       workers=args.workers)
    except SettingError as exc:
        print(f"karl: {exc}", file=sys.stderr)
        return 2
    from platformcore.pidlock import AlreadyRunning, PidLock

    try:  # one Karl per spool: a second would deliver the same queue again
        lock = PidLock(config.spool_dir / "karl.pid", "Karl").acquire()
    except AlreadyRunning as exc:
        print(f"karl: {exc} (spool {config.spool_dir})", file=sys.stderr)
        return 3
    from errord.install import install as errord_install
    from platformcore.observability import install_reporting

    install_reporting("karl", errord_install)
    from karl.memory import limit_heap_growth
    from karl.server import make_app

    limit_heap_growth()
    from platformcore.gcstartup import freeze_startup_objects

    app = make_app(config)
    freeze_startup_objects()  # imports and the app: the collector skips them from now on
    web.run_app(app, host=config.bind_address, port=config.port,
                print=lambda *_: logging.getLogger("karl").info(
                    "listening on %s:%s, relays %s, spool %s, %d workers", config.bind_address,
                    config.port, ",".join(config.relays), config.spool_dir, config.workers))
    lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
