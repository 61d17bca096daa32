"""manage.py parsebounce FILE... : show what the bounce parser makes of each message.

One JSON line per file on stdout, so an admin can see why a member was marked
bouncing (or why a message was not taken for a bounce). A file that cannot be
read is reported on stderr and makes the command exit non-zero at the end; the
other files are still printed.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from messageserver.bounces import parse_bounce


class Command(BaseCommand):
    help = "Parse bounce/complaint messages and print one JSON line per file."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE",
                            help="Raw RFC 5322 messages (.eml), as received.")

    def handle(self, *args, **options):
        failures = 0
        for name in options["files"]:
            try:
                raw = Path(name).read_bytes()
            except OSError as exc:
                failures += 1
                self.stderr.write(f"parsebounce: cannot read {name}: {exc.strerror or exc}")
                continue
            line = {"file": name, **parse_bounce(raw).to_json()}
            self.stdout.write(json.dumps(line, ensure_ascii=False))
        if failures:
            raise CommandError(f"{failures} of {len(options['files'])} file(s) could not be read")
