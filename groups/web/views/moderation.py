"""Running a group: settings, pending members and messages, hashtags, topics.

The member list, member pages, adding and inviting, bans, sender rules and the
activity log are in groups.web.views.memberadmin.

Moderators (and owners, and site admins) moderate; only owners (and site
admins) change the group's settings or make owners. Decisions on held
messages go through messageserver (POST /v1/moderation), the same path as a
moderator's emailed reply, so an approved message goes out exactly once.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from groups import activitylog
from groups.models import ActivityEntry, Feed, Hashtag, HeldMessage, Membership
from groups.web import access
from groups.web.footer import FooterError, render_footer
from groups.web.forms import HashtagForm
from groups.web.pages import paginate
from messageserver import membership_actions, outboxfailures

S = Membership.Status
R = Membership.Role


@login_required
def dashboard(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.moderator(request, group_name)
    return render(request, "groups/mod/dashboard.html", {
        "v": v, "group": v.group,
        "pending_members": Membership.objects.filter(group=v.group,
                                                     status=S.PENDING_APPROVAL).count(),
        "pending_messages": HeldMessage.objects.filter(
            group=v.group, state=HeldMessage.State.PENDING).count(),
        "failing_feeds": Feed.objects.filter(group=v.group).filter(
            Q(active=False) | Q(consecutive_failures__gt=0)).count() if v.is_owner else 0,
        "unsent": list(outboxfailures.failed_items(v.group.name)[:20]),
        "recent": [(e, activitylog.describe(e)) for e in
                   ActivityEntry.objects.filter(group=v.group).order_by("-id")[:10]]})


@login_required
@require_POST
def footer_preview(request: HttpRequest, group_name: str) -> HttpResponse:
    """The live preview: the footer rendered in Karl's sandbox with sample values."""
    v = access.owner(request, group_name)
    try:
        text = render_footer(request.POST.get("footer_template", ""), v.group)
    except FooterError as exc:
        return HttpResponse(str(exc), content_type="text/plain; charset=utf-8", status=400)
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


@login_required
def pending_members(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.moderator(request, group_name)
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        action = request.POST.get("action")
        rows = Membership.objects.filter(group=v.group, pk__in=ids, status=S.PENDING_APPROVAL)
        if action == "approve":
            with transaction.atomic():  # every welcome is queued, or none and nobody approved
                approved = [pk for pk in rows.values_list("pk", flat=True)
                            if membership_actions.approve(pk, actor=request.user.email)]
            flash.success(request, ngettext("%(count)d approved.", "%(count)d approved.", len(approved)) % {
                "count": len(approved)})
        elif action == "decline":
            reason = request.POST.get("reason", "")[:2000]
            with transaction.atomic():  # every requester is told, or none and nobody declined
                declined = [pk for pk in rows.values_list("pk", flat=True)
                            if membership_actions.decline(pk, reason,
                                                          actor=request.user.email)]
            flash.success(request, ngettext("%(count)d declined.", "%(count)d declined.", len(declined)) % {
                "count": len(declined)})
        else:
            flash.error(request, _("Choose approve or decline."))
        return redirect("mod_pending_members", v.group.name)
    page = paginate(request, Membership.objects.filter(
        group=v.group, status=S.PENDING_APPROVAL).order_by("joined_at"))
    return render(request, "groups/mod/pending_members.html", {
        "v": v, "group": v.group, "page": page})


@login_required
def hashtags(request: HttpRequest, group_name: str, hashtag_id: int | None = None
             ) -> HttpResponse:
    v = access.moderator(request, group_name)
    instance = get_object_or_404(Hashtag, group=v.group, pk=hashtag_id) if hashtag_id else None
    form = HashtagForm(request.POST or None, instance=instance, group=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            tag = form.save(commit=False)
            tag.group = v.group
            tag.save()
            flash.success(request, _("#%(name)s saved.") % {"name": tag.name})
            return redirect("mod_hashtags", v.group.name)
        status = 400
    return render(request, "groups/mod/hashtags.html", {
        "v": v, "group": v.group, "form": form, "editing": instance,
        "hashtags": Hashtag.objects.filter(group=v.group)}, status=status)
