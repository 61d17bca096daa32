"""``python -m errord``: run the error collector until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from errord.selfreport import StoreHandler
from errord.server import make_app
from errord.store import Store
from platformcore.env import PROJECT_DIR, get_env

log = logging.getLogger("errord")


async def serve(host: str, port: int, db: Path) -> None:
    env = get_env()
    store = Store(db, project_dir=str(PROJECT_DIR))
    own_errors = StoreHandler(store)
    logging.getLogger().addHandler(own_errors)
    runner = web.AppRunner(make_app(store, env.internal_api_token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("errord listening on http://%s:%s, storing in %s", host, bound, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("errord stopping")
    await runner.cleanup()
    logging.getLogger().removeHandler(own_errors)
    store.close()


def main(argv: list[str] | None = None) -> None:
    env = get_env()
    parser = argparse.ArgumentParser(
        prog="python -m errord",
        description="Collect the platform's errors and group them (see manage.py errors).")
    parser.add_argument("--host", default=env.internal_bind_address,
                        help=f"address to listen on (default {env.internal_bind_address})")
    parser.add_argument("--port", type=int, default=env.errord_port,
                        help=f"port to listen on (default {env.errord_port}, ERRORD_PORT)")
    parser.add_argument("--db", type=Path, default=env.data_dir / "errord.sqlite3",
                        help="SQLite file (default DATA_DIR/errord.sqlite3)")
    args = parser.parse_args(argv)
    # errord's own errors go straight into its store (errord.selfreport), never over HTTP.
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s errord %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.host, args.port, args.db))


if __name__ == "__main__":
    main()
