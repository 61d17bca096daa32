"""Long topic lists and long topics page the same from either end.

Pages are read keys first, walking backwards for the second half
(groups.web.pages.KeysFirstPaginator): every page must hold exactly the rows
the plain ordering puts there, ties included, with nothing repeated or lost.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import Message, Topic
from groups.web.pages import PER_PAGE
from groups.web.views.archive import TOPIC_PER_PAGE
from tests.groups.web.conftest import make_post

pytestmark = pytest.mark.django_db


def _topic_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="subject" href="/g/hikers/topic/(\d+)/"', page)]


def test_every_topic_list_page_matches_the_listing_order(group, clients):
    now = timezone.now()
    # 2.5 pages; pairs share a last-post time, so the id breaks the tie; one sticky topic.
    topics = Topic.objects.bulk_create(
        Topic(group=group, subject=f"Walk {i}", normalized_subject=f"walk {i}",
              last_post_at=now - timedelta(hours=i // 2), sticky=(i == 40))
        for i in range(PER_PAGE * 2 + PER_PAGE // 2))
    expected = list(Topic.objects.filter(group=group)
                    .order_by("-sticky", "-last_post_at", "-pk").values_list("pk", flat=True))
    assert expected[0] == topics[40].pk
    shown = []
    for number in (1, 2, 3):
        page = clients["anon"].get(reverse("topics", args=["hikers"]), {"page": number})
        assert page.status_code == 200
        shown.append(_topic_ids(page.content.decode()))
    assert [len(p) for p in shown] == [PER_PAGE, PER_PAGE, PER_PAGE // 2]
    assert [pk for p in shown for pk in p] == expected


def test_a_long_topic_pages_in_date_order_from_either_end(group, clients):
    first = make_post(group, "Long walk", "Message 0")
    for i in range(1, TOPIC_PER_PAGE * 2 + 7):
        make_post(group, "Re: Long walk", f"Message {i}", topic=first.topic)
    Message.objects.filter(topic=first.topic, number=5).update(deleted=True)
    expected = [f"Message {i}" for i in range(TOPIC_PER_PAGE * 2 + 7) if i != 4]
    shown = []
    for number in (1, 2, 3):
        page = clients["anon"].get(reverse("topic", args=["hikers", first.topic_id]),
                                   {"page": number}).content.decode()
        shown += re.findall(r"<pre>(Message \d+)</pre>", page)
    assert shown == expected
