"""NUL bytes on PostgreSQL (#15 item 9): refused at the edge with 5xx, never a DataError (451).

PostgreSQL's text columns cannot hold NUL; before the fix a raw or encoded NUL
reached the archive and the DataError became 451, so the sender retried for
days. Runs in the PostgreSQL pass (`make test-postgres`); skipped in the SQLite
pass, and when the server is unreachable outside CI.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DataError, transaction

from groups.models import Message, OutboxItem
from messageserver import pipeline
from tests.conftest import mail

pytestmark = pytest.mark.postgres

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)",
                allow_module_level=True)

POST = "demo@groups.localhost"


def test_postgres_really_refuses_nul_in_text(demo_group):
    """The premise: on this database a NUL in a text column is an error."""
    with pytest.raises(DataError), transaction.atomic():
        Message.objects.filter(group=demo_group).update(subject="a\x00b")


@pytest.mark.parametrize("raw", [
    mail("member_post.eml").replace(b"Subject: Hello", b"Subject: Hel\x00lo"),
    mail("member_post.eml").replace(b"first post", b"first\x00post"),
])
def test_raw_nul_is_a_permanent_refusal(demo_group, raw):
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [POST], raw)
    assert (outcome.kind, outcome.status) == ("rejected", "5.6.0") and "NUL" in outcome.reason
    assert not Message.objects.exists() and not OutboxItem.objects.exists()


def test_encoded_nul_is_archived_without_it(demo_group):
    [(_, outcome)] = pipeline.handle_inbound("bob@example.org", [POST],
                                             mail("qp_nul_body.eml"))
    assert outcome.kind == "accepted"
    message = Message.objects.get()
    assert message.subject == "nulinside" and message.body_text.strip() == "beforeafter"
