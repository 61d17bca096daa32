"""Whose archive a person may read: the one rule, for the website's pages, feeds and search.

Public archives for everyone; members-only archives and hidden groups for
their active members; site admins everything. It lives outside groups.web so
that search (which applies it inside every backend) need not import the web.
"""

from __future__ import annotations

from django.db.models import Q

from groups import accountemails
from groups.models import Group, Membership


def readable_groups(user):
    """Groups whose archive this user may read (for search and feeds)."""
    groups = Group.objects.all()
    if user.is_authenticated and user.is_superuser:
        return groups
    public = Q(privacy=Group.Privacy.PUBLIC)
    if not user.is_authenticated:
        return groups.filter(public)
    mine = accountemails.memberships_of(user).filter(
        status=Membership.Status.ACTIVE).values("group_id")
    return groups.filter(public | Q(pk__in=mine))
