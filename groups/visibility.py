"""Whose archive a person may read: the one rule, for the website's pages, feeds and search.

Public archives for everyone; members-only archives and hidden groups for
their active members; site admins everything. It lives outside groups.web so
that search (which applies it inside every backend) need not import the web.
The directory's rule sits beside it: listed groups for everyone, a hidden group
only for its own active members (not even for site admins, who have their own
list of every group).
"""

from __future__ import annotations

from django.db.models import Q

from groups import accountemails
from groups.models import Group, Membership


def member_group_ids(user):
    """Subquery: ids of the groups where this user is an active member (account, or any of
    its verified addresses: groups.accountemails)."""
    return accountemails.memberships_of(user).filter(
        status=Membership.Status.ACTIVE).values("group_id")


def readable_groups(user):
    """Groups whose archive this user may read (for search and feeds)."""
    groups = Group.objects.all()
    if user.is_authenticated and user.is_superuser:
        return groups
    public = Q(privacy=Group.Privacy.PUBLIC)
    if not user.is_authenticated:
        return groups.filter(public)
    return groups.filter(public | Q(pk__in=member_group_ids(user)))


def directory_groups(user):
    """Groups the directory lists to this user: listed ones, and hidden ones they belong to."""
    listed = ~Q(privacy=Group.Privacy.HIDDEN)
    if not user.is_authenticated:
        return Group.objects.filter(listed)
    return Group.objects.filter(listed | Q(pk__in=member_group_ids(user)))


def followable_groups(user):
    """Groups whose topics count as "mine" (my topics, followed topics): active member AND reader.

    A group left, or one whose archive is closed to this user, drops out at once.
    """
    if not user.is_authenticated:
        return Group.objects.none()
    return readable_groups(user).filter(pk__in=member_group_ids(user))
