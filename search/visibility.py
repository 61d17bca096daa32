"""Who may read which archive, for search: the one rule, applied inside every backend.

The rule itself lives in ``groups.visibility.readable_groups`` (public archives
for everyone; members-only archives and hidden groups for their active
members; site admins everything), which the website's pages already use. It is
not written a second time here: search only narrows it to the groups asked for.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser

from groups.models import Group
from groups.visibility import readable_groups


def readable_group_ids(user, groups: Iterable[Group | int | str] | None = None) -> list[int]:
    """Ids of the groups ``user`` may read, narrowed to ``groups`` (objects, ids or names)."""
    allowed = readable_groups(user if user is not None else AnonymousUser())
    if groups is not None:
        ids, names = set(), set()
        for g in groups:
            if isinstance(g, Group):
                ids.add(g.pk)
            elif isinstance(g, int):
                ids.add(g)
            else:
                names.add(str(g))
        allowed = allowed.filter(pk__in=ids) | allowed.filter(name__in=names)
    return sorted(set(allowed.values_list("pk", flat=True)))
