"""A private group's messages never reach someone who may not read them.

Not in the hits, not in the total, not in a snippet; on every backend, and
whatever groups the caller asks for (asking for a private group by name is
answered as if it were empty).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

import search
from tests.search.conftest import PRIVATE_WORDS


def _visible_text(results) -> str:
    return " ".join(f"{h.group} {h.subject} {h.author} {h.snippet_html}"
                    for h in results.hits).lower()


def _groups(results) -> set[str]:
    return {h.group for h in results.hits}


def test_outsiders_see_only_the_public_archive(archive):
    for user in (AnonymousUser(), archive["charlie"], None):
        for q in ("release", "budget", "merger", "confidential release", "quarterly"):
            results = search.query(user, q)
            assert _groups(results) <= {"demo"}
            assert all(word not in _visible_text(results) for word in PRIVATE_WORDS)
        assert search.query(user, "release").total == 3  # demo's three posts only
        assert search.query(user, "confidential").total == 0
        assert search.query(user, "merger").hits == []


def test_asking_for_a_private_group_by_name_finds_nothing(archive):
    charlie = archive["charlie"]
    for groups in (["secret"], ["hidden"], ["secret", "hidden"]):
        results = search.query(charlie, "release", groups=groups)
        assert results.total == 0 and results.hits == []
    assert search.query(charlie, "", author="sam@example.org").total == 0
    assert search.query(charlie, "release", groups=["secret", "demo"]).total == 3


def test_members_see_their_own_private_groups(archive):
    sam = search.query(archive["sam"], "release")
    assert _groups(sam) == {"demo", "secret"} and sam.total == 4
    assert "confidential" in _visible_text(search.query(archive["sam"], "confidential"))
    hal = search.query(archive["hal"], "release")
    assert _groups(hal) == {"demo", "hidden"} and hal.total == 4
    assert search.query(archive["hal"], "budget").total == 0


def test_site_admin_sees_everything(archive):
    results = search.query(archive["admin"], "release")
    assert _groups(results) == {"demo", "secret", "hidden"} and results.total == 5


def test_leaving_a_group_closes_its_archive(archive):
    from groups.models import Membership

    assert search.query(archive["sam"], "budget").total == 1
    Membership.objects.filter(email="sam@example.org").update(
        status=Membership.Status.UNSUBSCRIBED)
    assert search.query(archive["sam"], "budget").total == 0


def test_a_group_made_private_disappears_from_outsiders_results(archive):
    from groups.models import Group

    assert search.query(archive["charlie"], "picnic").total == 1
    Group.objects.filter(name="demo").update(privacy=Group.Privacy.PRIVATE_ARCHIVE)
    assert search.query(archive["charlie"], "picnic").total == 0
    assert search.query(archive["bob"], "picnic").total == 1  # bob is a member
