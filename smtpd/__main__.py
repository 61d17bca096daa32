"""python -m smtpd: run the inbound SMTP daemon."""

from __future__ import annotations

import argparse
import asyncio
from smtpd.server import serve

from errord.install import install as errord_install
from platformcore.env import get_env
from platformcore.observability import install_reporting


def main(argv: list[str] | None = None) -> None:
    env = get_env()
    parser = argparse.ArgumentParser(prog="smtpd", description="The groups inbound SMTP daemon.")
    parser.add_argument("--host", default=env.bind_address)
    parser.add_argument("--port", type=int, default=env.smtpd_port)
    args = parser.parse_args(argv)
    install_reporting("smtpd", errord_install)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
