"""Running a group: settings, members, pending members and messages, hashtags, topics.

Moderators (and owners, and site admins) moderate; only owners (and site
admins) change the group's settings or make owners. Decisions on held
messages go through messageserver (POST /v1/moderation), the same path as a
moderator's emailed reply, so an approved message goes out exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from groups import links
from groups.membership import add_members
from groups.models import Feed, Hashtag, HeldMessage, Membership
from groups.web import access, mail
from groups.web.footer import FooterError, render_footer
from groups.web.forms import AddMembersForm, BulkMemberForm, GroupSettingsForm, HashtagForm
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
        "unsent": list(outboxfailures.failed_items(v.group.name)[:20])})


@login_required
def group_settings(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.owner(request, group_name)
    form = GroupSettingsForm(request.POST or None, instance=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, "The group's settings are saved.")
            return redirect("mod_settings", v.group.name)
        status = 400
    try:
        footer = render_footer(form["footer_template"].value() or "", v.group)
    except FooterError as exc:
        footer = str(exc)
    return render(request, "groups/mod/settings.html", {
        "v": v, "group": v.group, "form": form, "footer_preview": footer}, status=status)


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


def _apply_bulk(v: access.Viewer, action: str, ids: list[int]) -> tuple[int, str]:
    """Apply one bulk action; returns (rows changed, refusal message or "")."""
    rows = Membership.objects.filter(group=v.group, pk__in=ids)
    if action.startswith("role_"):
        if not v.is_owner:
            return 0, "Only owners change roles."
        role = action.removeprefix("role_")
        if role != R.OWNER and not Membership.objects.filter(
                group=v.group, role=R.OWNER, status=S.ACTIVE).exclude(pk__in=ids).exists():
            return 0, "A group keeps at least one owner."
        return rows.update(role=role), ""
    if action.startswith("delivery_"):
        if not v.is_owner:  # an owner's or moderator's delivery: only they or an owner
            rows = rows.filter(role=R.MEMBER)
        mode = action.removeprefix("delivery_")
        return _each(rows, lambda pk: membership_actions.set_delivery(pk, mode)), ""
    if not v.is_owner:  # moderators can't remove or ban owners or other moderators
        rows = rows.filter(role=R.MEMBER)
    if rows.filter(role=R.OWNER).exists() and not Membership.objects.filter(
            group=v.group, role=R.OWNER, status=S.ACTIVE).exclude(pk__in=ids).exists():
        return 0, "A group keeps at least one owner."
    change = {"remove": membership_actions.remove, "ban": membership_actions.ban,
              "unban": membership_actions.unban}[action]
    return _each(rows, change), ""


def _each(rows: QuerySet[Membership], action: Callable[[int], object]) -> int:
    """Apply one membership action to every row, all or none; how many it changed."""
    with transaction.atomic():
        return sum(action(pk) is not None for pk in rows.values_list("pk", flat=True))


@login_required
def members(request: HttpRequest, group_name: str) -> HttpResponse:
    """Search, page through and act on members; bounce state shown per member."""
    v = access.moderator(request, group_name)
    q = request.GET.get("q", "").strip()
    status_filter = request.GET.get("status", "")
    rows = Membership.objects.filter(group=v.group).select_related("user").order_by("email")
    if q:
        rows = rows.filter(Q(email__icontains=q) | Q(display_name__icontains=q)
                           | Q(user__display_name__icontains=q))
    if status_filter in S.values:
        rows = rows.filter(status=status_filter)
    if request.method == "POST":
        form = BulkMemberForm(request.POST, choices=list(
            Membership.objects.filter(group=v.group).values_list("pk", flat=True)))
        if form.is_valid():
            changed, refusal = _apply_bulk(v, form.cleaned_data["action"],
                                           form.cleaned_data["ids"])
            if refusal:
                flash.error(request, refusal)
            else:
                flash.success(request, f"{changed} member{'s' if changed != 1 else ''} changed.")
        else:
            flash.error(request, "Pick at least one member and an action.")
        return redirect(request.get_full_path())
    page = paginate(request, rows, per_page=50)
    extra = "&".join(p for p in (f"q={q}" if q else "", f"status={status_filter}"
                                 if status_filter else "") if p)
    return render(request, "groups/mod/members.html", {
        "v": v, "group": v.group, "page": page, "q": q, "status_filter": status_filter,
        "statuses": S.choices, "actions": BulkMemberForm.ACTIONS, "extra": extra})


@login_required
def add(request: HttpRequest, group_name: str) -> HttpResponse:
    """Invite in bulk from a textarea or a CSV file (they confirm by a signed link).

    Only owners (and site admins) may add people directly, without their consent;
    a moderator's additions are always invitations.
    """
    v = access.moderator(request, group_name)
    form = AddMembersForm(request.POST or None, request.FILES or None,
                          may_add_directly=v.is_owner)
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            invite = form.cleaned_data["invite"] or not v.is_owner
            report = add_members(v.group, form.cleaned_data["lines"],
                                 delivery=form.cleaned_data["delivery"],
                                 status=S.INVITED if invite else S.ACTIVE)
            if invite and report.added:
                _send_invitations(v, report.added)
        else:
            status = 400
    return render(request, "groups/mod/add_members.html", {
        "v": v, "group": v.group, "form": form, "report": report}, status=status)


def _send_invitations(v: access.Viewer, emails: list[str]) -> None:
    for m in Membership.objects.filter(group=v.group, email__in=emails, status=S.INVITED):
        text = render_to_string("groups/invitation_mail.txt", {
            "group": v.group, "membership": m, "inviter": v.membership.name
            if v.membership else "The site's administrators",
            "url": links.confirm_subscription_url(m.pk)})
        mail.send(m.email, f"Invitation to join {v.group.display_title}", text)


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
                            if membership_actions.approve(pk)]
            flash.success(request, f"{len(approved)} approved.")
        elif action == "decline":
            reason = request.POST.get("reason", "")[:2000]
            with transaction.atomic():  # every requester is told, or none and nobody declined
                declined = [pk for pk in rows.values_list("pk", flat=True)
                            if membership_actions.decline(pk, reason)]
            flash.success(request, f"{len(declined)} declined.")
        else:
            flash.error(request, "Choose approve or decline.")
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
            flash.success(request, f"#{tag.name} saved.")
            return redirect("mod_hashtags", v.group.name)
        status = 400
    return render(request, "groups/mod/hashtags.html", {
        "v": v, "group": v.group, "form": form, "editing": instance,
        "hashtags": Hashtag.objects.filter(group=v.group)}, status=status)
