"""manage.py exportmbox GROUP FILE: write a group's archive as an mbox file.

The raw messages as they were received, so importmbox elsewhere gives the
same archive back.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from groups.models import Group, Message
from importers.mbox import export_archive


class Command(BaseCommand):
    help = "Export a group's archive (the raw messages) as an mbox file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("group")
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, group: str, file: Path, no_progress: bool = False, **options):
        target = Group.objects.filter(name=group).first()
        if target is None:
            raise CommandError(f"no group named {group!r}")
        if not file.parent.is_dir():
            raise CommandError(f"{file.parent} is not a directory")
        total = Message.objects.filter(group=target, deleted=False).count()
        with tqdm(total=total, unit="msg", desc=f"export {group}", disable=no_progress) as bar:
            count = export_archive(target, file, progress=bar.update)
        self.stdout.write(f"{count} messages written to {file}")
