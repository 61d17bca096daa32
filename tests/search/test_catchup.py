"""The catch-up under the indexing queue: what a lost task left out is indexed, once.

On both engines (the database's own, and OpenSearch): a message the index
lacks, as when its Celery task vanished with a restarted Redis, is found and
indexed; everything else is left as it is, and a second run finds nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

import search
from groups.models import Message
from search.catchup import index_missing


def test_messages_the_index_lacks_are_indexed_once(archive, backend):
    admin = archive["admin"]
    picnic = Message.objects.get(subject="Picnic plans")
    search.remove(picnic)  # its indexing task was lost
    assert search.query(admin, "sandwiches").total == 0
    assert backend.missing([m.pk for m in Message.objects.all()]) == {picnic.pk}
    assert index_missing(timezone.now()) == 1
    assert search.query(admin, "sandwiches").total == 1
    assert search.query(admin, "release").total == 5  # the others untouched, none doubled
    assert index_missing(timezone.now()) == 0


def test_old_and_deleted_messages_are_left_alone(archive, backend):
    picnic = Message.objects.get(subject="Picnic plans")
    budget = Message.objects.get(subject__icontains="budget")
    search.remove(picnic)
    search.remove(budget)
    Message.objects.filter(pk=picnic.pk).update(deleted=True)
    Message.objects.filter(pk=budget.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert index_missing(timezone.now()) == 0  # (a full reindex is for the old archive)
    assert backend.missing([picnic.pk, budget.pk]) == {picnic.pk, budget.pk}
