"""manage.py importmbox GROUP FILE: import an mbox file or a Maildir into a group's archive.

Nobody is emailed; duplicates (same Message-ID) are skipped; threads, dates and
authors are kept. See importers.mbox.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from groups.models import Group
from importers.mbox import ImportError_, import_archive, read_archive


class Command(BaseCommand):
    help = "Import an mbox (Mailman/pipermail, Google Takeout) or a Maildir into a group."

    def add_arguments(self, parser) -> None:
        parser.add_argument("group")
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, group: str, file: Path, no_progress: bool = False, **options):
        target = Group.objects.filter(name=group).first()
        if target is None:
            raise CommandError(f"no group named {group!r}")
        try:
            total = sum(1 for _ in read_archive(file))
            with tqdm(total=total, unit="msg", desc=f"import {group}",
                      disable=no_progress) as bar:
                report = import_archive(target, file, progress=bar.update)
        except ImportError_ as exc:
            raise CommandError(str(exc)) from None
        for problem in report.problems[:20]:
            self.stderr.write(f"skipped: {problem}")
        self.stdout.write(
            f"{report.imported} imported, {report.duplicates} duplicates skipped, "
            f"{report.unreadable} unreadable, {report.new_topics} new topics "
            f"(of {report.read} messages read)")
