"""The delivery report of one post, for the group's owners and moderators."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from groups import deliveryreport
from groups.models import Message
from groups.web import access


@login_required
def message_delivery(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    v = access.moderator(request, group_name)
    msg = get_object_or_404(Message.objects.select_related("group", "topic"), group=v.group,
                            number=number)
    return render(request, "groups/mod/message_delivery.html", {
        "v": v, "group": v.group, "report": deliveryreport.build(msg)})
