"""manage.py dkimkey [--show]: create the domain's DKIM key if missing, print its DNS record."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from groups.dnsrecords import dkim_keys
from platformcore.env import get_env


def _quoted(value: str) -> str:
    """A TXT value as DNS zone strings (at most 255 characters each)."""
    return " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))


class Command(BaseCommand):
    help = ("Create the DKIM key of GROUPS_DOMAIN when it is missing; with --show, print the "
            "selector and the DNS TXT record to publish.")

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--show", action="store_true",
                            help="print the selector, DNS name and TXT value")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        keys = dkim_keys(create=True)
        if not options["show"]:
            self.stdout.write(f"DKIM key for {get_env().groups_domain}: {keys[0][1]}")
            return
        for selector, key_path, name, value in keys:
            self.stdout.write(f"selector: {selector}")
            self.stdout.write(f"key file: {key_path}")
            self.stdout.write(f"{name}. IN TXT {_quoted(value)}")
