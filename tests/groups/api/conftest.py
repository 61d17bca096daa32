"""The API's people: the website's named people and group (tests/groups/web/conftest.py),
each with keys of every kind, and a second group with an owner of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from groups import apikeys
from groups.models import ApiKey, Group, Membership
from tests.groups.web.conftest import (  # noqa: F401  (fixtures, shared)
    PASSWORD,
    clients,
    fast_passwords,
    fresh_cache,
    group,
    make_post,
    make_user,
    messageserver,
    people,
)


class Api:
    """A test client that sends one key with every call and reads JSON back."""

    def __init__(self, key: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def call(self, method: str, path: str, body: dict | None = None):  # noqa: ANN201
        kwargs = {"headers": self.headers}
        if body is not None:
            kwargs |= {"data": body, "content_type": "application/json"}
        response = getattr(self.client, method.lower())(f"/api/v1{path}", **kwargs)
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        return response

    def get(self, path: str):  # noqa: ANN201
        return self.call("GET", path)


@pytest.fixture
def other_group(people) -> Group:  # noqa: F811
    """walkers, owned by dora (a stranger to hikers); members-only archive."""
    dora = make_user("dora")
    g = Group.objects.create(name="walkers", title="Walkers", privacy="private_archive")
    Membership.objects.create(group=g, user=dora, email=dora.email, role="owner")
    people["dora"] = dora
    return g


@pytest.fixture
def keys(people, group, other_group) -> dict[str, str]:  # noqa: F811
    """Keys by kind: owner (alice, read-write), moderator (mona), member (bob),
    outsider (charlie), readonly (alice, read), hikers_only (alice, limited to hikers),
    other_owner (dora), revoked and expired (alice)."""
    out = {}
    for kind, user, scope, only in (
            ("owner", "alice", "write", None), ("moderator", "mona", "write", None),
            ("member", "bob", "write", None), ("outsider", "charlie", "write", None),
            ("readonly", "alice", "read", None), ("hikers_only", "alice", "write", group),
            ("other_owner", "dora", "write", None), ("admin", "root", "write", None)):
        out[kind] = apikeys.create(people[user], kind, scope=scope, group=only)[1]
    row, out["revoked"] = apikeys.create(people["alice"], "revoked", scope="write")
    apikeys.revoke(row)
    row, out["expired"] = apikeys.create(people["alice"], "expired", scope="write")
    ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    return out


@pytest.fixture
def api(keys):  # noqa: ANN201
    """api["owner"].get("/groups/") ...: a client per kind of key, plus "none"."""
    out = {kind: Api(key) for kind, key in keys.items()}
    out["none"] = Api(None)
    return out
