"""Archives to search: three groups, one of each privacy, with real mail posted to each.

- demo (public archive): alice owner, bob and dora members; three posts.
- secret (archive for members only): sam; one post about a confidential budget.
- hidden (hidden group): hal; one post about a clandestine merger.
charlie has an account and no membership; admin is a site admin.

The ``backend`` fixture runs a test on the database's own full-text search
(SQLite FTS5, or PostgreSQL in the PostgreSQL pass) and on OpenSearch: an
osmem-server (an in-memory OpenSearch-compatible engine bundled in the
osmem-server wheel) started on a free loopback port, spoken to with the
opensearch-py client, as SEARCH_CLIENT=opensearch would.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import free_port

if "search" not in settings.INSTALLED_APPS:
    pytest.skip('"search" is not in INSTALLED_APPS yet (groups/settings.py)',
                allow_module_level=True)

MAIL = Path(__file__).parent / "mail"
PRIVATE_WORDS = ("confidential", "budget", "clandestine", "merger", "quarterly")


def search_mail(name: str) -> bytes:
    return (MAIL / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture(scope="session")
def opensearch_url():
    from osmem_server import OsmemServer

    server = OsmemServer.start(addr=f"127.0.0.1:{free_port()}", japanese=False)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def opensearch_backend(opensearch_url):
    import search
    from search.elastic import ElasticBackend

    backend = ElasticBackend(opensearch_url, "opensearch", index_name=f"t-{uuid.uuid4().hex}")
    with search.use_backend(backend):
        yield backend
    backend.client.indices.delete(index=backend.index_name, ignore_unavailable=True)


@pytest.fixture(params=["database", "opensearch"])
def backend(request):
    import search

    if request.param == "opensearch":
        return request.getfixturevalue("opensearch_backend")
    return search.get_backend()


@pytest.fixture
def people(demo_group):
    from groups.membership import add_members
    from groups.models import Group, User

    secret = Group.objects.create(name="secret", privacy=Group.Privacy.PRIVATE_ARCHIVE)
    hidden = Group.objects.create(name="hidden", privacy=Group.Privacy.HIDDEN)
    add_members(secret, ["Sam Secret <sam@example.org>"])
    add_members(hidden, ["Hal Hidden <hal@example.org>"])
    # No passwords: hashing them would cost more than the whole search.
    users = {name: User.objects.create_user(name, f"{name}@example.org")
             for name in ("bob", "sam", "hal", "charlie")}
    users["admin"] = User.objects.create_superuser("admin", "admin@example.org", None)
    return users


@pytest.fixture
def archive(people, backend, django_capture_on_commit_callbacks):
    """Post the five messages through the real pipeline; the hook indexes each one."""
    from messageserver import pipeline

    posts = [("bob@example.org", "demo", "demo_release.eml"),
             ("alice@example.org", "demo", "demo_reply.eml"),
             ("dora@example.org", "demo", "demo_picnic.eml"),
             ("sam@example.org", "secret", "secret_budget.eml"),
             ("hal@example.org", "hidden", "hidden_merger.eml")]
    with django_capture_on_commit_callbacks(execute=True):
        for sender, group, name in posts:
            [(_, outcome)] = pipeline.handle_inbound(sender, [f"{group}@groups.localhost"],
                                                     search_mail(name))
            assert outcome.kind == "accepted", (name, outcome)
    return people
