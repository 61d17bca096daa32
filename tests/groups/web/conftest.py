"""Named people and a group for the website's tests.

alice owns "hikers", mona moderates it, bob is a member, charlie is an
outsider with an account, root is a site admin. Each is a real User with a
real Membership; clients log in through Django's session machinery.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from groups.models import Group, Membership, Message, Topic, User

PASSWORD = "correct horse battery staple"


def make_user(username: str, **extra) -> User:
    return User.objects.create_user(username=username, email=f"{username}@example.org",
                                    password=PASSWORD, display_name=username.title(),
                                    email_confirmed=True, **extra)


def make_post(group: Group, subject: str, text: str = "Hello.", sender: str = "bob@example.org",
              topic: Topic | None = None, html: str = "", minutes_ago: int = 0) -> Message:
    """Archive a message as messageserver would (topic counters, per-group number)."""
    when = timezone.now() - timedelta(minutes=minutes_ago)
    if topic is None:
        topic = Topic.objects.create(group=group, subject=subject,
                                     normalized_subject=subject.lower(), created_at=when,
                                     last_post_at=when)
    number = group.allocate_message_number()
    msg = Message.objects.create(group=group, topic=topic, number=number,
                                 message_id=f"<{group.name}.{number}@example.org>",
                                 sender_email=sender, sender_name=sender.split("@")[0].title(),
                                 subject=subject, date=when, body_text=text, body_html=html)
    Topic.objects.filter(pk=topic.pk).update(
        message_count=topic.message_count + 1, last_post_at=when, last_message=msg,
        first_message=topic.first_message or msg)
    topic.refresh_from_db()
    return msg


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """PBKDF2 at full strength costs ~0.3 s per user; tests don't need the strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(db):
    users = {name: make_user(name) for name in ("alice", "mona", "bob", "charlie")}
    users["root"] = make_user("root", is_superuser=True, is_staff=True)
    return users


@pytest.fixture
def group(people) -> Group:
    g = Group.objects.create(name="hikers", title="Hikers", description="Walks and talks.")
    for name, role in (("alice", "owner"), ("mona", "moderator"), ("bob", "member")):
        Membership.objects.create(group=g, user=people[name], email=people[name].email,
                                  role=role)
    return g


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def clients(people) -> dict[str, Client]:
    """One logged-in client per person, plus "anon"."""
    out = {name: client_for(user) for name, user in people.items()}
    out["anon"] = Client()
    return out


class _MessageServerWSGI:
    """messageserver's own Django app (its urlconf), served in this process.

    The test database is an in-memory SQLite shared across threads, which a
    separate process could not open; so the real messageserver views run here
    behind a real waitress socket, and the website reaches them over HTTP
    through the real MessageServerClient.
    """

    def __init__(self):
        from django.core.handlers.wsgi import WSGIHandler

        class Handler(WSGIHandler):
            def get_response(self, request):
                request.urlconf = "messageserver.urls"
                return super().get_response(request)

        self.app = Handler()

    def __call__(self, environ, start_response):
        # The real process allows its internal host names (groups/settings.py); sharing the
        # website's settings here, the request is addressed to the site's own name.
        environ["HTTP_HOST"] = "testserver"
        from django.db import connections

        try:
            return self.app(environ, start_response)
        finally:  # this server's threads must not keep sessions the test database needs back
            connections.close_all()


@pytest.fixture
def messageserver(transactional_db, monkeypatch):
    """A live messageserver on a free loopback port; yields its base URL."""
    import threading

    from waitress import create_server

    server = create_server(_MessageServerWSGI(), host="127.0.0.1", port=0, threads=2)
    url = f"http://127.0.0.1:{server.effective_port}"
    monkeypatch.setenv("MESSAGESERVER_URL", url)
    def serve() -> None:
        try:
            server.run()
        except OSError:  # close() from this fixture pulls the socket out from under select()
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield url
    server.close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rate-limit counters live in the shared cache; each test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
