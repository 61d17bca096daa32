"""Site admins: every group with its size and activity; suspend or delete one.

A suspended group keeps its members and archive but refuses every post
(the rule is in messageserver.policy.decide_post, for mail and web alike).
Deleting uses groups.deletion.delete_group, the owners' danger zone's code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db.models import Count, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import deletion
from groups.models import Group, Membership, Message
from groups.web.groupforms import DeleteGroupForm
from groups.web.pages import paginate

ACTIVITY_DAYS = 30


def site_admin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged out: to the login page and back. Logged in but not a site admin: the site's
    own 404, as for any page that isn't there for them."""
    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404("site admins only")
        return view(request, *args, **kwargs)
    return wrapped


def _count(queryset) -> Coalesce:  # noqa: ANN001
    """A per-group count as a subquery, so two counts never multiply each other's rows."""
    counted = queryset.filter(group=OuterRef("pk")).order_by().values("group").annotate(
        n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def groups_with_activity(q: str = ""):
    """All groups, with active members, messages of the last 30 days and the last post."""
    since = timezone.now() - timedelta(days=ACTIVITY_DAYS)
    groups = Group.objects.all()
    if q:
        groups = groups.filter(Q(name__icontains=q) | Q(title__icontains=q))
    last = Message.objects.filter(group=OuterRef("pk"), deleted=False).order_by().values(
        "group").annotate(last=Max("date")).values("last")
    return groups.annotate(
        active_members=_count(Membership.objects.filter(status=Membership.Status.ACTIVE)),
        recent_messages=_count(Message.objects.filter(date__gte=since, deleted=False)),
        last_post=Subquery(last),
    ).order_by("name")


@site_admin_only
def group_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:100]
    page = paginate(request, groups_with_activity(q))
    return render(request, "groups/site_groups.html", {
        "page": page, "q": q, "days": ACTIVITY_DAYS, "total": Group.objects.count()})


@site_admin_only
def group_detail(request: HttpRequest, group_name: str) -> HttpResponse:
    group = groups_with_activity().filter(name=group_name).first()
    if group is None:
        raise Http404("no such group")
    action = request.POST.get("action", "")
    delete = DeleteGroupForm(request.POST if action == "delete" else None, group=group)
    if request.method == "POST":
        if action in ("suspend", "unsuspend"):
            Group.objects.filter(pk=group.pk).update(suspended=action == "suspend")
            flash.success(request, (_("%(name)s is suspended: it accepts no posts.") if action == "suspend"
                                   else _("%(name)s is no longer suspended.")) % {"name": group.name})
            return redirect("site_group", group.name)
        if action == "delete" and delete.is_valid():
            deletion.delete_group(group)
            flash.success(request, _("%(name)s is deleted, with its members and archive.") % {
                "name": group.name})
            return redirect("site_groups")
    return render(request, "groups/site_group.html", {
        "group": group, "delete": delete, "days": ACTIVITY_DAYS,
        "owners": Membership.objects.filter(group=group, role=Membership.Role.OWNER,
                                            status=Membership.Status.ACTIVE)},
        status=400 if request.method == "POST" else 200)
