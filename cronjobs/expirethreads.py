"""expirethreads: topics that have gone quiet are locked or deleted.

Two rules, both measured from Topic.last_post_at:
- a hashtag with ``expires_days`` (e.g. #forsale, 14) locks or deletes, per its
  ``expire_action``, every topic carrying it once the topic has been inactive
  that many days (sticky topics too: the owner chose the hashtag's rule);
- a group's ``auto_lock_days`` locks any non-sticky topic inactive that long;
  that rule lives in messageserver.archive.lock_inactive_topics, called from here.

Each change is a conditional UPDATE/DELETE that repeats the inactivity test,
so a reply arriving during the run keeps its topic open, and a second run finds
nothing left to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from groups import deletion
from groups.models import Hashtag, Topic
from messageserver import archive

log = logging.getLogger(__name__)


@dataclass
class ExpireReport:
    locked: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    auto_locked: int = 0

    def summary(self) -> str:
        return (f"{len(self.locked)} topics locked and {len(self.deleted)} deleted by hashtag "
                f"expiry, {self.auto_locked} auto-locked")


def _delete_topic(topic_id: int, cutoff: datetime) -> bool:
    """Delete one topic if it is still inactive (files and search entries go with it)."""
    with transaction.atomic():
        topic = (Topic.objects.select_for_update()
                 .filter(pk=topic_id, last_post_at__lt=cutoff).first())
        if topic is None:
            return False
        deletion.delete_topic(topic)
    return True


def expire_threads(now: datetime) -> ExpireReport:
    """One pass of both rules at ``now``."""
    report = ExpireReport()
    for tag in Hashtag.objects.filter(expires_days__gt=0).select_related("group").order_by("id"):
        cutoff = now - timedelta(days=tag.expires_days)
        stale = Topic.objects.filter(group=tag.group, hashtags=tag, last_post_at__lt=cutoff)
        if tag.expire_action == Hashtag.ExpireAction.DELETE:
            for topic_id in stale.values_list("id", flat=True):
                if _delete_topic(topic_id, cutoff):
                    log.info("expirethreads: deleted topic %s of %s (#%s, %d days)", topic_id,
                             tag.group.name, tag.name, tag.expires_days)
                    report.deleted.append(topic_id)
        else:
            ids = list(stale.filter(locked=False).values_list("id", flat=True))
            if ids and Topic.objects.filter(pk__in=ids, last_post_at__lt=cutoff).update(
                    locked=True):
                report.locked.extend(Topic.objects.filter(pk__in=ids, locked=True)
                                     .values_list("id", flat=True))
    report.auto_locked = archive.lock_inactive_topics(now)
    if report.locked or report.deleted or report.auto_locked:
        log.info("expirethreads: %s", report.summary())
    return report
