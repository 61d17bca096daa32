"""manage.py runplatform: prepare the data directory and run every process.

One platform per DATA_DIR: the command holds DATA_DIR/runplatform.pid
(platformcore.pidlock) while it runs, and a second one refuses to start, naming the
first, instead of fighting it over ports.
"""

from __future__ import annotations

import importlib.util
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from groups.supervisor import Supervisor
from platformcore.env import PROJECT_DIR, Env, get_env
from platformcore.pidlock import AlreadyRunning, PidLock


def process_specs(env: Env | None = None) -> list[tuple[str, list[str]]]:
    """Each process and its command line: web and smtpd listen on PUBLIC_BIND_ADDRESS, the
    internal APIs (messageserver, karl, errord) on INTERNAL_BIND_ADDRESS only."""
    py = sys.executable
    env = env or get_env()
    public, internal = env.public_bind_address, env.internal_bind_address
    specs = [
        ("web", [py, "-m", "groups.webserver", "--host", public]),
        ("smtpd", [py, "-m", "smtpd", "--host", public]),
        ("messageserver", [py, "-m", "messageserver", "--host", internal]),
        ("karl", [py, "-m", "karl"]),  # karl.config reads INTERNAL_BIND_ADDRESS itself
        ("errord", [py, "-m", "errord", "--host", internal]),
    ]
    if importlib.util.find_spec("cronjobs.celeryapp") is not None:
        specs.append(("scheduler", [py, "-m", "cronjobs.scheduler"]))
    return specs


class Command(BaseCommand):
    help = ("Migrate, create the DKIM key, seed the demo group, then run web, smtpd, "
            "messageserver, karl, errord and the scheduler in the foreground.")

    def add_arguments(self, parser):
        parser.add_argument("--no-seed", action="store_true", help="Don't create the demo group.")
        parser.add_argument("--only", nargs="*", metavar="NAME",
                            help="Run only these processes (e.g. --only web karl).")

    def handle(self, *args, **options):
        env = get_env()
        try:
            lock = PidLock(env.data_dir / "runplatform.pid", "runplatform").acquire()
        except AlreadyRunning as exc:
            raise CommandError(f"{exc} (DATA_DIR {env.data_dir})") from None
        try:
            self._run(env, options)
        finally:
            lock.release()

    def _run(self, env, options) -> None:  # noqa: ANN001
        call_command("migrate", interactive=False, verbosity=0)
        call_command("dkimkey")
        if not options["no_seed"]:
            call_command("seeddemo")
        specs = process_specs()
        if options["only"]:
            specs = [s for s in specs if s[0] in options["only"]]
        self.stdout.write(
            f"Groups platform for {env.groups_domain}: web {settings.SITE_URL}, smtpd "
            f"{env.public_bind_address}:{env.smtpd_port}, data in {env.data_dir}. Ctrl-C stops.")
        Supervisor(specs, cwd=str(PROJECT_DIR)).run()
