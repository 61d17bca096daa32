"""A restore link undoes only the removal it was issued for (#22 item 2).

The link comes from a real spam complaint through the inbound pipeline; the
owner's later removal goes through the real members page.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re

import pytest
from django.test import Client
from django.urls import reverse

from groups.models import Membership, OutboxItem, User
from tests.messageserver.mailhandling.test_bounces import _complaint, _deliver, _verp_of
from tests.messageserver.mailhandling.test_bounces import posted as posted  # the fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def _restore_link() -> str:
    item = OutboxItem.objects.latest("pk")
    notice = email.message_from_bytes(base64.b64decode(item.payload["message_b64"]),
                                      policy=email.policy.default)
    [path] = re.findall(r"http://testserver(/restore/\S+/)", notice.get_body(("plain",))
                        .get_content())
    return path


def _owner_removes(group, address: str) -> None:
    alice = User.objects.create_user("alice", "alice@example.org", "pw-alice-123456",
                                     email_confirmed=True)
    owner = Client()
    owner.force_login(alice)
    dora = Membership.objects.get(group=group, email=address)
    response = owner.post(reverse("mod_members", args=[group.name]),
                          {"ids": [dora.pk], "action": "remove"})
    assert response.status_code == 302


@pytest.mark.usefixtures("posted")
def test_a_restore_link_cannot_undo_the_owners_later_removal(demo_group):
    assert _deliver(_complaint("abuse"), _verp_of("demo", 1, "dora@example.org")).kind == (
        "accepted")
    link = _restore_link()
    _owner_removes(demo_group, "dora@example.org")
    page = Client().get(link)
    assert page.status_code == 400 and "earlier removal" in page.content.decode()
    assert Client().post(link).status_code == 400
    assert Membership.objects.get(email="dora@example.org").status == "removed"


@pytest.mark.usefixtures("posted")
def test_a_restore_link_works_once(demo_group):
    _deliver(_complaint("abuse"), _verp_of("demo", 1, "dora@example.org"))
    link = _restore_link()
    assert "is a member again" in Client().post(link).content.decode()
    assert Membership.objects.get(email="dora@example.org").status == "active"
    # removed again later by the owner: the used link brings nobody back
    _owner_removes(demo_group, "dora@example.org")
    assert Client().post(link).status_code == 400
    assert Membership.objects.get(email="dora@example.org").status == "removed"
