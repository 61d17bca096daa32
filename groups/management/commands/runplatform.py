"""manage.py runplatform: prepare the data directory and run every process."""

from __future__ import annotations

import importlib.util
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from groups.supervisor import Supervisor
from platformcore.env import PROJECT_DIR, get_env


def process_specs() -> list[tuple[str, list[str]]]:
    py = sys.executable
    specs = [
        ("web", [py, "-m", "groups.webserver"]),
        ("smtpd", [py, "-m", "smtpd"]),
        ("messageserver", [py, "-m", "messageserver"]),
        ("karl", [py, "-m", "karl"]),
        ("errord", [py, "-m", "errord"]),
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
        call_command("migrate", interactive=False, verbosity=0)
        call_command("dkimkey")
        if not options["no_seed"]:
            call_command("seeddemo")
        specs = process_specs()
        if options["only"]:
            specs = [s for s in specs if s[0] in options["only"]]
        self.stdout.write(
            f"Groups platform for {env.groups_domain}: web {settings.SITE_URL}, smtpd "
            f"{env.bind_address}:{env.smtpd_port}, data in {env.data_dir}. Ctrl-C stops.")
        Supervisor(specs, cwd=str(PROJECT_DIR)).run()
