"""python -m groups.webserver: serve the website with waitress on WEB_PORT."""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")
    from platformcore.env import get_env

    env = get_env()
    parser = argparse.ArgumentParser(prog="web", description="Serve the groups website.")
    parser.add_argument("--host", default=env.public_bind_address)
    parser.add_argument("--port", type=int, default=env.web_port)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    import django

    django.setup()
    from waitress import serve

    from errord.install import install as errord_install
    from groups.wsgi import application
    from platformcore.observability import install_reporting

    install_reporting("web", errord_install)
    serve(application, host=args.host, port=args.port, threads=args.threads,
          max_request_body_size=env.max_message_size * 2, ident="groups")


if __name__ == "__main__":
    main()
