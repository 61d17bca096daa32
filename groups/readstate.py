"""What a person has read: "new since your last visit" for topics, and their reading layout.

One row per person and topic (TopicRead) holds the highest message number the
topic page has shown them. Viewing a topic writes it with a single upsert that
never moves it backwards (reading page 1 again after page 3 loses nothing);
lists read it for a whole page of topics in two queries, whatever the page's
length. A topic the person never opened counts as new only if it saw a post
after their account was made, so joining an old group does not flag its whole
history.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from groups.models import Message, ReaderSettings, Topic, TopicRead

LAYOUTS = (ReaderSettings.Layout.FLAT, ReaderSettings.Layout.THREADED)


def last_read(user, topic: Topic) -> int | None:
    """The highest message number of ``topic`` shown to ``user``; None if never opened."""
    if not user.is_authenticated:
        return None
    return (TopicRead.objects.filter(user=user, topic=topic)
            .values_list("last_number", flat=True).first())


def mark_read(user, topic: Topic, number: int) -> None:
    """Record that ``user`` has been shown ``topic`` up to ``number``: one statement.

    INSERT ... ON CONFLICT DO UPDATE, keeping the larger number (SQLite and
    PostgreSQL both speak it), so two tabs or an old page never undo progress.
    """
    if not user.is_authenticated or number <= 0:
        return
    table = TopicRead._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, topic_id, last_number, seen_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, topic_id) DO UPDATE SET "
            f"last_number = CASE WHEN excluded.last_number > {table}.last_number "
            f"THEN excluded.last_number ELSE {table}.last_number END, "
            "seen_at = excluded.seen_at",
            [user.pk, topic.pk, int(number),
             connection.ops.adapt_datetimefield_value(timezone.now())])


def annotate_unread(topics: Sequence[Topic], user) -> Sequence[Topic]:
    """Set ``unread_count`` (new messages since the last visit) and ``is_new`` on each topic.

    Two queries for the whole list: the person's read marks, and the count of
    later messages per opened topic (a join on the marks, grouped).
    """
    for t in topics:
        t.unread_count, t.is_new = 0, False
    if not user.is_authenticated or not topics:
        return topics
    ids = [t.pk for t in topics]
    marks = dict(TopicRead.objects.filter(user=user, topic_id__in=ids)
                 .values_list("topic_id", "last_number"))
    counts = dict(Message.objects.filter(  # run even when no marks: a page costs the same
        topic_id__in=ids, deleted=False, topic__reads__user=user,
        number__gt=F("topic__reads__last_number"))
        .values("topic_id").annotate(n=Count("pk")).values_list("topic_id", "n"))
    joined = user.date_joined
    for t in topics:
        if t.pk in marks:
            t.unread_count = counts.get(t.pk, 0)
        else:
            t.is_new = t.last_post_at > joined
    return topics


def first_unread(user, messages) -> tuple[int, int] | None:
    """(number, how many come before it) of the first of ``messages`` (one topic's, in
    date order) that ``user`` had not been shown; None when all were, or never opened.

    One query, the read mark joined in as a subquery: a topic never opened
    compares with NULL and finds nothing, so the cost is the same either way.
    """
    if not user.is_authenticated:
        return None
    mark = TopicRead.objects.filter(user=user, topic_id=OuterRef("topic_id")).values(
        "last_number")[:1]
    before = (messages.filter(Q(date__lt=OuterRef("date"))
                              | Q(date=OuterRef("date"), number__lt=OuterRef("number")))
              .order_by().values("topic_id").annotate(n=Count("pk")).values("n"))
    row = (messages.filter(number__gt=Subquery(mark)).order_by("date", "number")
           .annotate(before=Coalesce(Subquery(before), 0))
           .values_list("number", "before").first())
    return row


def topic_layout(request) -> str:
    """Flat or threaded: ?layout= for this view, else the person's saved choice, else flat."""
    asked = request.GET.get("layout", "")
    if asked in LAYOUTS:
        return asked
    user = request.user
    if user.is_authenticated:
        saved = (ReaderSettings.objects.filter(user=user)
                 .values_list("topic_layout", flat=True).first())
        if saved in LAYOUTS:
            return saved
    return ReaderSettings.Layout.FLAT


def save_topic_layout(user, layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    ReaderSettings.objects.update_or_create(user=user, defaults={"topic_layout": layout})
