"""The safety net under the indexing queue: index what the archive holds and the engine lacks.

Each message is indexed as it is archived (search.apps). In the Redis mode
that is a Celery task, and a queued task can vanish with nobody failing:
Redis restarted without persistence, messageserver killed between its commit
and the send. The hourly housekeeping job calls ``index_missing``, which asks
the engine which of the recently archived messages it lacks and indexes
those, so a lost task delays a message's searchability instead of losing it
until the next full reindex. Indexing twice is harmless (a document is
replaced), so a message whose task is merely late costs nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import search
from groups.models import Message

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=2)  # hourly runs: a day's scheduler outage is still covered
BATCH = 1000


def index_missing(now: datetime, lookback: timedelta = LOOKBACK) -> int:
    """Index the messages archived since ``now - lookback`` that the engine lacks."""
    backend = search.get_backend()
    recent = (Message.objects.filter(deleted=False, created_at__gte=now - lookback)
              .order_by("pk").values_list("pk", flat=True))
    indexed, last = 0, 0
    while ids := list(recent.filter(pk__gt=last)[:BATCH]):
        last = ids[-1]
        lacking = backend.missing(ids)
        if lacking:
            indexed += backend.index_many(
                Message.objects.filter(pk__in=lacking).select_related("group", "topic")
                .prefetch_related("topic__hashtags", "attachments"))
    if indexed:
        log.warning("indexed %d archived messages the search index lacked", indexed)
    return indexed
