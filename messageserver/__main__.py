"""Run messageserver: its JSON API on MESSAGESERVER_PORT and the outbox dispatcher.

    python -m messageserver [--port N] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading


def main(argv: list[str] | None = None) -> None:
    os.environ["GROUPS_URLCONF"] = "messageserver.urls"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")
    from platformcore.env import get_env

    env = get_env()
    parser = argparse.ArgumentParser(prog="messageserver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=env.internal_bind_address)
    parser.add_argument("--port", type=int, default=env.messageserver_port)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from waitress import create_server

    from errord.install import install as errord_install
    from messageserver import api, outbox
    from platformcore.observability import install_reporting

    application = get_wsgi_application()
    # After Django configured logging (which replaces the root handlers).
    install_reporting("messageserver", errord_install)
    log = logging.getLogger("messageserver")
    from messageserver import senderauth

    log.info("sender authentication: %s", senderauth.describe())  # a typo in it stops us here

    from platformcore.gcstartup import freeze_startup_objects

    freeze_startup_objects()  # Django and the app are loaded: the collector skips them
    stop = threading.Event()
    dispatcher = threading.Thread(target=outbox.run_dispatcher, args=(stop,), daemon=True,
                                  name="outbox")
    dispatcher.start()
    server = create_server(application, host=args.host, port=args.port,
                           threads=args.threads, channel_timeout=300,
                           # Above the API's own limit, so that it, not waitress, refuses
                           # an oversized body, with a JSON error naming the limit.
                           max_request_body_size=api.MAX_BODY + 1024 * 1024)

    def shutdown(signum, frame):  # noqa: ARG001
        log.info("messageserver stopping")
        stop.set()
        outbox.wake()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("messageserver listening on http://%s:%s", args.host, server.effective_port)
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():
            raise
    dispatcher.join(timeout=5)


if __name__ == "__main__":
    main()
