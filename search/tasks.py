"""Celery tasks for indexing: retried with backoff while the search engine is down.

A task only carries a message's id and reads the row when it runs, so a retry
after an edit or a deletion indexes what the archive holds then.
"""

from __future__ import annotations

from celery import shared_task

RETRY = dict(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600,
             retry_jitter=True, max_retries=12)


@shared_task(name="search.index_message", **RETRY)
def index_message(message_id: int) -> str:
    import search
    from groups.models import Message

    message = (Message.objects.select_related("group", "topic").filter(pk=message_id).first())
    if message is None or message.deleted:
        search.remove(message_id)
        return "removed"
    search.index(message)
    return "indexed"


@shared_task(name="search.remove_message", **RETRY)
def remove_message(message_id: int) -> str:
    import search

    search.remove(message_id)
    return "removed"
