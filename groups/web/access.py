"""Who may see and do what on the website: every view asks here, nothing decides alone.

A hidden group, or a members-only archive, must look exactly like a missing
page to an outsider (404, never 403), so its existence never leaks. Site
admins (superusers) see everything; owners and moderators run their group.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.http import Http404, HttpRequest

from groups import accountemails
from groups.models import Group, Membership
from groups.visibility import readable_groups  # noqa: F401  (the rule, for the views)


@dataclass
class Viewer:
    """The person looking at one group: their membership (if any) and what it allows."""

    group: Group
    membership: Membership | None
    is_site_admin: bool
    parent_owner: bool = False  # an owner of this subgroup's parent owns the subgroup

    @property
    def is_member(self) -> bool:
        return self.membership is not None and self.membership.is_active

    @property
    def is_moderator(self) -> bool:
        return self.is_site_admin or self.parent_owner or (
            self.is_member and self.membership.is_moderator)

    @property
    def is_owner(self) -> bool:
        return self.is_site_admin or self.parent_owner or (
            self.is_member and self.membership.role == Membership.Role.OWNER)

    @property
    def can_see_group(self) -> bool:
        """Hidden groups exist only for their members (and pending or invited people)."""
        if self.group.is_listed or self.is_site_admin or self.parent_owner:
            return True
        return self.membership is not None and self.membership.status in (
            Membership.Status.ACTIVE, Membership.Status.INVITED,
            Membership.Status.PENDING_APPROVAL, Membership.Status.PENDING_CONFIRM)

    @property
    def can_read_archive(self) -> bool:
        return (self.group.archive_is_public or self.is_member or self.is_site_admin
                or self.parent_owner)

    @property
    def can_post(self) -> bool:
        """May see the post form; messageserver still decides whether the post goes out."""
        return self.is_member and self.membership.posting_status != (
            Membership.PostingStatus.NOT_ALLOWED)


def membership_for(group: Group, user) -> Membership | None:
    """The user's membership in the group, matched by account or by any verified address."""
    if not user.is_authenticated:
        return None
    return accountemails.membership_for_user(group, user)


def viewer(request: HttpRequest, group_name: str) -> Viewer:
    """The group by name as this request may see it; 404 when it may not."""
    try:  # get(), not first(): a unique name needs no ORDER BY (every page asks this)
        group = Group.objects.get(name=group_name)
    except Group.DoesNotExist:
        raise Http404("no such group") from None
    user = request.user
    parent_owner = False
    if group.parent_id is not None and user.is_authenticated:
        above = membership_for(group.parent, user)
        parent_owner = bool(above and above.is_active and above.role == Membership.Role.OWNER)
    found = Viewer(group, membership_for(group, user),
                   bool(user.is_authenticated and user.is_superuser), parent_owner)
    if not found.can_see_group:
        raise Http404("no such group")
    return found


def reader(request: HttpRequest, group_name: str) -> Viewer:
    """Like viewer(), but also requires the right to read the archive (else 404)."""
    found = viewer(request, group_name)
    if not found.can_read_archive:
        raise Http404("this group's archive is for members only")
    return found


def moderator(request: HttpRequest, group_name: str) -> Viewer:
    """A moderator, owner or site admin of the group; anyone else gets 404."""
    found = viewer(request, group_name)
    if not found.is_moderator:
        raise Http404("moderators only")
    return found


def owner(request: HttpRequest, group_name: str) -> Viewer:
    found = viewer(request, group_name)
    if not found.is_owner:
        raise Http404("owners only")
    return found


def visible_groups(user):
    """Groups the directory and search may show this user (hidden ones only to members)."""
    groups = Group.objects.all()
    if user.is_authenticated and user.is_superuser:
        return groups
    if not user.is_authenticated:
        return groups.exclude(privacy=Group.Privacy.HIDDEN)
    mine = accountemails.memberships_of(user).filter(
        status=Membership.Status.ACTIVE).values("group_id")
    return groups.filter(~Q(privacy=Group.Privacy.HIDDEN) | Q(pk__in=mine))
