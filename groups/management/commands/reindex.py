"""manage.py reindex [--group G]: rebuild the search index from the archive.

Runs in batches with bulk writes, so a large archive reindexes in minutes; a
deleted message is left out. Safe to run while mail arrives: a message
archived meanwhile is indexed by the hook as usual.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

import search
from groups.models import Group, Message
from search.dbsearch import DatabaseIndex

BATCH = 1000  # messages per bulk request to an external engine
RANGE = 20000  # messages per INSERT ... SELECT into the database's own index


class Command(BaseCommand):
    help = "Rebuild the search index (all groups, or one with --group)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--group", help="only this group's messages")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, group: str | None = None, no_progress: bool = False, **options):
        messages = Message.objects.filter(deleted=False)
        target = None
        if group:
            target = Group.objects.filter(name=group).first()
            if target is None:
                raise CommandError(f"no group named {group!r}")
            messages = messages.filter(group=target)
        backend = search.get_backend()
        backend.clear(target.pk if target else None)
        total = messages.count()
        done, last = 0, 0
        with tqdm(total=total, unit="msg", desc="reindex", disable=no_progress) as bar:
            if isinstance(backend, DatabaseIndex):  # the text stays in the database
                pks = messages.order_by("pk").values_list("pk", flat=True)
                with backend.rebuilding(whole=target is None):
                    while True:
                        ids = list(pks.filter(pk__gt=last)[:RANGE])
                        if not ids:
                            break
                        done += backend.rebuild_range(ids[0], ids[-1],
                                                      target.pk if target else None)
                        last = ids[-1]
                        bar.update(len(ids))
            else:  # an external engine: bulk requests of whole documents
                while True:
                    batch = list(messages.filter(pk__gt=last).order_by("pk")
                                 .select_related("group", "topic")
                                 .prefetch_related("topic__hashtags", "attachments")[:BATCH])
                    if not batch:
                        break
                    done += backend.index_many(batch)
                    last = batch[-1].pk
                    bar.update(len(batch))
        self.stdout.write(f"{done} messages indexed with {backend.name}")
