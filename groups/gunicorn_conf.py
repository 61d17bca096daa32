"""Gunicorn's settings for the website in production, read from the platform's environment.

    gunicorn -c python:groups.gunicorn_conf groups.wsgi:application

The same settings as every other process (platformcore/env.py): it listens on the
public bind address and WEB_PORT, with WEB_WORKERS processes (default
2 × CPUs + 1, gunicorn's own advice). `make run` keeps waitress
(groups/webserver.py): one process is what a development machine needs, and
gunicorn's pre-fork model is what several cores and a killed worker need.
Each worker reports its errors to errord like every other process.
"""

from __future__ import annotations

import os

from platformcore.env import env_int, get_env

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")
_env = get_env()
# PUBLIC_BIND_ADDRESS once it exists (the public listeners' address), else BIND_ADDRESS.
_host = _env.public_bind_address

bind = [f"[{_host}]:{_env.web_port}" if ":" in _host else f"{_host}:{_env.web_port}"]
workers = env_int("WEB_WORKERS", 2 * (os.cpu_count() or 1) + 1, minimum=1)
timeout = env_int("WEB_TIMEOUT", 60, minimum=1)
graceful_timeout = 30
max_requests = 10000  # a slow leak in one worker can't grow without bound
max_requests_jitter = 1000
accesslog = "-"
errorlog = "-"
proc_name = "groups-web"
# Behind nginx on the same host: X-Forwarded-* are trusted only from loopback, and
# Django decides about https itself (SECURE_PROXY_SSL_HEADER, groups/settings.py).
forwarded_allow_ips = "127.0.0.1,::1"


def post_fork(server, worker) -> None:  # noqa: ANN001 - gunicorn's hook signature
    """Each worker ships its errors to errord, as the waitress server does."""
    from errord.install import install as errord_install
    from platformcore.observability import install_reporting

    install_reporting("web", errord_install)
