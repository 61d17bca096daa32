"""Owners' feeds page: the RSS/Atom feeds whose entries cronjobs.rsscrawler posts to the group.

Owners list, add, remove and resume feeds here. The crawler records each
feed's failures on the row (consecutive_failures, last_error, next_check_at)
and stops a feed that keeps failing (active=False); this page shows that
state so an owner sees why nothing arrives, and "resume" asks for a check soon.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from groups.models import Feed
from groups.web import access
from groups.web.forms import FeedForm
from groups.web.pages import paginate


@login_required
def feeds(request: HttpRequest, group_name: str) -> HttpResponse:
    """The group's feeds with their health, and the form to add one."""
    v = access.owner(request, group_name)
    form = FeedForm(request.POST or None, group=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            feed = form.save(commit=False)
            feed.group = v.group
            feed.next_check_at = timezone.now()
            feed.save()
            flash.success(request, _("Feed %(feed)s added; it will be checked shortly.") % {"feed": feed})
            return redirect("mod_feeds", v.group.name)
        status = 400
    page = paginate(request, Feed.objects.filter(group=v.group).order_by("created_at", "pk"))
    return render(request, "groups/mod/feeds.html", {
        "v": v, "group": v.group, "form": form, "page": page}, status=status)


@login_required
@require_POST
def feed_action(request: HttpRequest, group_name: str, feed_id: int) -> HttpResponse:
    """Remove a feed, or pause or resume it (resuming clears the failure count)."""
    v = access.owner(request, group_name)
    feed = get_object_or_404(Feed, group=v.group, pk=feed_id)
    action = request.POST.get("action", "")
    if action == "remove":
        feed.delete()
        flash.success(request, _("Feed %(feed)s removed.") % {"feed": feed})
    elif action == "pause":
        Feed.objects.filter(pk=feed.pk).update(active=False)
        flash.success(request, _("Feed %(feed)s paused.") % {"feed": feed})
    elif action == "resume":
        Feed.objects.filter(pk=feed.pk).update(active=True, consecutive_failures=0,
                                               next_check_at=timezone.now())
        flash.success(request, _("Feed %(feed)s resumed; it will be checked shortly.") % {
            "feed": feed})
    else:
        flash.error(request, _("Choose remove, pause or resume."))
    return redirect("mod_feeds", v.group.name)
