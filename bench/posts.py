"""A group of N members with one post accepted through the real pipeline, for the benchmarks.

bench_fanout_accept.py and callgrind_fanout.py both measure what follows a post's
acceptance; this is the one way they make it (Django set up on the DATA_DIR or
DATABASE_URL the caller's environment names).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from groups.models import Message


def accepted_post(name: str, members: int) -> Message:
    """Group ``name`` with ``members`` members u0..@example.net, and u0's post accepted in it.

    The outbox rows the acceptance wrote (the fan-out) are removed, so the caller
    measures its own handling of the post. Returns the Message, with group and topic.
    """
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groups.settings")
    django.setup()
    from groups.models import Group, Membership, Message, OutboxItem
    from messageserver import pipeline
    from tests.conftest import mail

    group = Group.objects.create(name=name, title=name)
    Membership.objects.bulk_create([Membership(group=group, email=f"u{i}@example.net")
                                    for i in range(members)], batch_size=5000)
    raw = mail("member_post.eml").replace(b"bob@example.org", b"u0@example.net")
    [(_, outcome)] = pipeline.handle_inbound("u0@example.net",
                                             [f"{name}@groups.localhost"], raw)
    assert outcome.kind == "accepted", outcome
    OutboxItem.objects.all().delete()
    return Message.objects.select_related("group", "topic").get(group=group,
                                                                number=outcome.number)
