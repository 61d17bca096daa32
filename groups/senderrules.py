"""Which ban or sender rule of a group names an address.

The posting policy (messageserver.policy.decide_post), the join rule
(messageserver.membership_actions.join_route) and adding members
(groups.membership) ask here, so a ban refuses posts and joins alike. An
exact address wins over a glob, a glob over a regular expression; among
equals the oldest rule wins. A group has tens of rules, not thousands: they
are read in one query and matched in memory.
"""

from __future__ import annotations

from groups.models import BanRule, Group, SenderRule
from platformcore import addresspatterns as ap

_ORDER = {ap.ADDRESS: 0, ap.GLOB: 1, ap.REGEX: 2}


def _first(rules, address: str):
    found = [r for r in rules if ap.matches(r.pattern, address)]
    found.sort(key=lambda r: (_ORDER[ap.kind(r.pattern)], r.created_at, r.pk))
    return found[0] if found else None


def ban_for(group: Group | int, address: str) -> BanRule | None:
    """The ban naming ``address`` in ``group``, if any."""
    if not address:
        return None
    return _first(BanRule.objects.filter(group=group), address)


def banned_among(group: Group, addresses: list[str]) -> set[str]:
    """Which of ``addresses`` a ban names (one query for a whole upload)."""
    rules = list(BanRule.objects.filter(group=group))
    if not rules:
        return set()
    return {a for a in addresses if _first(rules, a) is not None}


def sender_rule_for(group: Group | int, address: str) -> SenderRule | None:
    """The non-member sender rule naming ``address`` in ``group``, if any."""
    if not address:
        return None
    return _first(SenderRule.objects.filter(group=group), address)
