"""Search in events, wiki pages and file names, by the archive's privacy rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.utils import timezone

from groups.models import Event, Group, Membership, StoredFile, User, WikiPage
from search import tools

pytestmark = pytest.mark.django_db


@pytest.fixture
def content():
    public = Group.objects.create(name="hikers", title="Hikers")
    private = Group.objects.create(name="council", title="Council",
                                   privacy=Group.Privacy.PRIVATE_ARCHIVE)
    now = timezone.now()
    for g in (public, private):
        Event.objects.create(group=g, title=f"{g.title} summit walk", start=now,
                             end=now + timedelta(hours=2), location="Ben Nevis")
        WikiPage.objects.create(group=g, slug="routes", title="Routes",
                                body=f"The summit route of the {g.title}.")
        row = StoredFile(group=g, name=f"summit-{g.name}.gpx", size=3)
        row.data.save(f"summit-{g.name}.gpx", ContentFile(b"gpx"), save=False)
        row.save()
    member = User.objects.create_user("bob", "bob@example.org", "x" * 12)
    Membership.objects.create(group=private, user=member, email="bob@example.org")
    return public, private, member


def test_every_kind_and_only_readable_groups(content):
    public, private, member = content
    outsider = {(h.kind, h.group) for h in tools.query(AnonymousUser(), "summit")}
    assert outsider == {("event", "hikers"), ("wiki", "hikers"), ("file", "hikers")}
    inside = {(h.kind, h.group) for h in tools.query(member, "summit")}
    assert ("wiki", "council") in inside and ("file", "council") in inside
    assert [h.title for h in tools.query(member, "summit Council", ["council"])
            if h.kind == "event"] == ["Council summit walk"]
    assert tools.query(AnonymousUser(), "") == []
    Group.objects.filter(pk=public.pk).update(wiki_enabled=False)
    assert "wiki" not in {h.kind for h in tools.query(AnonymousUser(), "summit")}
