"""Members: my groups, join and leave, subscription settings, posting from the web."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from groups.models import Membership


@login_required
def my_groups(request: HttpRequest) -> HttpResponse:
    user = request.user
    memberships = (Membership.objects.filter(Q(user=user) | Q(email=user.email.lower()))
                   .exclude(status__in=[Membership.Status.REMOVED])
                   .select_related("group").order_by("group__name"))
    return render(request, "groups/my_groups.html", {"memberships": memberships})


def reply(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    raise NotImplementedError
