"""manage.py dkimkey [--show]: create the domain's DKIM key if missing, print its DNS record."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from karl.dkimkeys import dns_record, ed25519_selector, ensure_ed25519_key, ensure_key
from platformcore.env import env_bool, get_env


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
        env = get_env()
        path = ensure_key(env.dkim_key_path)
        keys = [(path, env.dkim_selector)]
        if env_bool("KARL_DKIM_ED25519", False):
            keys.append((ensure_ed25519_key(path), ed25519_selector(env.dkim_selector)))
        if not options["show"]:
            self.stdout.write(f"DKIM key for {env.groups_domain}: {path}")
            return
        for key_path, selector in keys:
            name, value = dns_record(key_path, selector, env.groups_domain)
            self.stdout.write(f"selector: {selector}")
            self.stdout.write(f"key file: {key_path}")
            self.stdout.write(f"{name}. IN TXT {_quoted(value)}")
