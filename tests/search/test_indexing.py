"""How messages get into the index and out of it: the archive hook, deletions, reindex."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

import search
from groups.models import Message


def test_a_deleted_message_leaves_the_index(archive, django_capture_on_commit_callbacks):
    from groups.deletion import delete_message

    admin = archive["admin"]
    picnic = Message.objects.get(subject="Picnic plans")
    assert search.query(admin, "sandwiches").total == 1
    with django_capture_on_commit_callbacks(execute=True):
        delete_message(picnic)
    assert search.query(admin, "sandwiches").total == 0
    assert search.query(admin, "release", groups=["demo"]).total == 2


def test_a_deleted_topic_takes_its_messages_out(archive, django_capture_on_commit_callbacks):
    from groups.deletion import delete_topic

    admin = archive["admin"]
    release = Message.objects.get(message_id="<release-2@example.org>")
    with django_capture_on_commit_callbacks(execute=True):
        delete_topic(release.topic)
    assert search.query(admin, "release", groups=["demo"]).total == 1
    assert search.query(admin, "migration").total == 0


def test_reindex_rebuilds_everything_or_one_group(archive, backend):
    admin = archive["admin"]
    backend.clear()
    assert search.query(admin, "release").total == 0
    out = StringIO()
    call_command("reindex", "--group", "secret", "--no-progress", stdout=out)
    assert "1 messages indexed" in out.getvalue()
    assert {h.group for h in search.query(admin, "release").hits} == {"secret"}
    call_command("reindex", "--no-progress", stdout=out)
    assert search.query(admin, "release").total == 5
    call_command("reindex", "--no-progress", stdout=out)  # twice: nothing doubled
    assert search.query(admin, "release").total == 5


def test_reindex_refuses_an_unknown_group(db):
    import pytest
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no group named 'nope'"):
        call_command("reindex", "--group", "nope", "--no-progress")


def test_the_celery_task_indexes_what_the_archive_holds(archive, backend):
    from search.tasks import index_message, remove_message

    admin = archive["admin"]
    picnic = Message.objects.get(subject="Picnic plans")
    backend.clear()
    assert index_message.run(picnic.pk) == "indexed"
    assert search.query(admin, "sandwiches").total == 1
    Message.objects.filter(pk=picnic.pk).update(deleted=True)
    assert index_message.run(picnic.pk) == "removed"  # a retry after a deletion
    assert search.query(admin, "sandwiches").total == 0
    assert remove_message.run(picnic.pk) == "removed"  # unknown ids are fine
    assert index_message.autoretry_for == (Exception,) and index_message.retry_backoff
