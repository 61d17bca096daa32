"""Wires search into the platform when the app is installed: hooks and signals.

- every archived message is indexed (a Celery task when a broker is
  configured, at once if the broker cannot take it; else at once: in the
  archive's transaction for the database backend, after commit for an
  external engine); what a lost task missed, search.catchup indexes hourly;
- a Message row deleted, or saved as ``deleted``, leaves the index;
- the engine-specific schema is ensured after every migrate.
"""

from __future__ import annotations

import logging

from django.apps import AppConfig
from django.db import transaction

log = logging.getLogger(__name__)


def celery_app():
    """The platform's Celery app when a real broker (REDIS_URL) is configured, else None.

    With the embedded defaults the database backend indexes in the archive's own
    transaction, which needs no worker and cannot fall behind; a queue earns its
    keep when the engine is a server that may be down (retries with backoff).
    """
    from platformcore.env import get_env

    if not get_env().redis_url:
        return None
    try:
        from cronjobs.celeryapp import app
    except Exception:  # no Celery app in this deployment: index inline
        log.warning("REDIS_URL is set but cronjobs.celeryapp is missing; indexing inline")
        return None
    return app


def _index_now(message_id: int) -> None:
    from search.tasks import index_message

    index_message.run(message_id)


def on_archived(message) -> None:
    """messageserver.hooks.on_message_archived: index the new message."""
    import search
    from search.dbsearch import DatabaseIndex

    pk = message.pk
    app = celery_app()
    if app is not None:
        transaction.on_commit(lambda: _safe(_queue, pk, app=app))
    elif isinstance(search.get_backend(), DatabaseIndex):
        with transaction.atomic():  # a savepoint: a failure never spoils the archive's write
            search.index(message)
    else:
        transaction.on_commit(lambda: _safe(_index_now, pk))


def _queue(pk: int, app) -> None:
    """Send the retried indexing task to the platform's workers, or index now.

    When the broker cannot take the task (Redis down), the message is indexed
    here and now rather than left out; a task lost after it was queued (Redis
    restarted empty) is found by the hourly catch-up (search.catchup).
    """
    from search.tasks import index_message

    try:
        app.send_task(index_message.name, args=[pk])
    except Exception as exc:
        log.warning("could not queue the indexing of message %s (%s); indexing it now", pk, exc)
        _index_now(pk)


def _safe(func, pk: int, **kwargs) -> None:
    try:
        func(pk, **kwargs)
    except Exception:
        log.exception("search indexing of message %s failed", pk)


def on_message_deleted(sender, instance, **kwargs) -> None:
    import search

    pk = instance.pk
    transaction.on_commit(lambda: _safe(search.remove, pk))


def on_message_saved(sender, instance, created: bool = False, **kwargs) -> None:
    if instance.deleted and not created:
        on_message_deleted(sender, instance)


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Archive search"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from groups.models import Message
        from messageserver import hooks
        from search import schema, tasks  # noqa: F401 - tasks: workers learn the task names

        if on_archived not in hooks._archived:
            hooks.on_message_archived(on_archived)
        post_delete.connect(on_message_deleted, sender=Message, dispatch_uid="search-delete")
        post_save.connect(on_message_saved, sender=Message, dispatch_uid="search-save")
        post_migrate.connect(schema.ensure_after_migrate, dispatch_uid="search-schema")
