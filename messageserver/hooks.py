"""What happens after a message is archived, besides fan-out (search indexing).

Kept as one small function so the pipeline names its side effects in one place;
the search package registers the indexer when it is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from groups.models import Message

log = logging.getLogger(__name__)

_archived: list[Callable[[Message], None]] = []


def on_message_archived(func: Callable[[Message], None]) -> Callable[[Message], None]:
    _archived.append(func)
    return func


def message_archived(message: Message) -> None:
    for func in _archived:
        try:
            func(message)
        except Exception:  # indexing must never lose a post that was archived
            log.exception("after-archive hook %s failed for %s", func.__name__, message.pk)
