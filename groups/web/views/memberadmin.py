"""Owners and moderators run the membership: the member list, one member's page,
bulk actions, adding and inviting with a preview, CSV export, bans, sender rules,
the activity log and the owner's overview charts.

States change only through messageserver.membership_actions (the web never
writes a status, delivery or posting status itself), roles through
groups.membership.set_roles, adding through groups.membership.add_members;
each writes its activity-log entry in its own transaction. Moderators may act
on plain members only and may only invite; owners (and site admins) may do
everything, but a group always keeps an active owner.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from groups import activitylog, languages, links, memberpowers, overview
from groups.membership import OUTCOME_LABELS, add_members, plan
from groups.models import ActivityEntry, BanRule, BounceEvent, Membership, SenderRule, User
from groups.web import access, charts, keyset, mail
from groups.web.memberforms import (
    ActivityFilterForm,
    AddMembersForm,
    BanForm,
    BulkMemberForm,
    MemberFilterForm,
    MemberSettingsForm,
    RemoveForm,
    SenderRuleForm,
)
from messageserver import membership_actions

S = Membership.Status
R = Membership.Role
PAGE_SIZE = 50
LOG_PAGE_SIZE = 50
COUNT_CAP = 10_000  # beyond this the list says "more than 10,000" (counting costs a scan)


def _actor(request: HttpRequest) -> str:
    return request.user.email


# --- the member list ---------------------------------------------------------------

def filtered_members(v: access.Viewer, form: MemberFilterForm) -> QuerySet[Membership]:
    """The group's rows under the list's filters (an invalid filter is left out)."""
    data = form.cleaned_data if form.is_valid() else {}
    return memberpowers.filtered(
        v.group, status=data.get("status", ""), role=data.get("role", ""),
        delivery=data.get("delivery", ""), posting=data.get("posting", ""),
        bouncing=bool(data.get("bouncing")), q=data.get("q") or "")


def _filter_query(form: MemberFilterForm) -> str:
    """The filters as a query string, for the page links and the export."""
    if not form.is_valid():
        return ""
    return urlencode({k: ("on" if v is True else v) for k, v in form.cleaned_data.items()
                      if v})


def _may_act_on(v: access.Viewer, m: Membership) -> bool:
    return memberpowers.may_act_on(v.is_owner, m)


def apply_bulk(v: access.Viewer, action: str, ids: list[int], actor: str) -> tuple[int, str]:
    """Apply one bulk action to the group's rows ``ids``: (rows changed, refusal or "")."""
    return memberpowers.apply_bulk(v.group, v.is_owner, action, ids, actor)


@login_required
def member_list(request: HttpRequest, group_name: str) -> HttpResponse:
    """Search, filter, page through and act on the members (keyset pages by address)."""
    v = access.moderator(request, group_name)
    if request.method == "POST":
        bulk = BulkMemberForm(request.POST, owner=v.is_owner)
        bulk.valid_ids(set(Membership.objects.filter(
            group=v.group, pk__in=[i for i in request.POST.getlist("ids") if i.isdigit()]
        ).values_list("pk", flat=True)))
        if bulk.is_valid():
            changed, refusal = apply_bulk(v, bulk.cleaned_data["action"],
                                          bulk.cleaned_data["ids"], _actor(request))
            if refusal:
                flash.error(request, refusal)
            else:
                flash.success(request, ngettext("%(count)d member changed.", "%(count)d members changed.",
                                       changed) % {"count": changed})
        else:
            flash.error(request, " ".join(e for errs in bulk.errors.values() for e in errs))
        return redirect(request.get_full_path())
    form = MemberFilterForm(request.GET)
    rows = filtered_members(v, form)
    found = keyset.page(rows.select_related("user"), key="email", params=request.GET,
                        size=PAGE_SIZE)
    query = _filter_query(form)
    return render(request, "groups/mod/members.html", {
        "v": v, "group": v.group, "form": form, "page": found, "total": _count(rows, found, bool(form.is_valid() and form.cleaned_data["q"])),
        "page_size": PAGE_SIZE,
        "count_cap": COUNT_CAP,
        "query": query, "actions": BulkMemberForm(owner=v.is_owner)["action"],
        "export_url": reverse("mod_members_export", args=[v.group.name])
        + (f"?{query}" if query else "")})


def _count(rows: QuerySet[Membership], found: keyset.KeysetPage, searching: bool
           ) -> int | None:
    """How many rows match, read no further than COUNT_CAP + 1; None for a search that
    fills more than a page (a substring search can't use an index: counting it would
    scan every member a second time). A list that fits one page is counted from it."""
    if not found.has_previous and not found.has_next:
        return len(found.items)
    if searching:
        return None
    return rows.order_by()[:COUNT_CAP + 1].count()


def _csv_safe(value: object) -> str:
    """A cell a spreadsheet won't run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def member_export(request: HttpRequest, group_name: str) -> StreamingHttpResponse:
    """The (filtered) member list as CSV, streamed: 100,000 rows never sit in memory."""
    v = access.moderator(request, group_name)
    rows = filtered_members(v, MemberFilterForm(request.GET)).order_by("email")
    writer = csv.writer(_Echo())
    header = ["email", "name", "role", "status", "delivery", "posting_status", "joined",
              "bounce_state", "bounce_score"]

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for m in rows.values_list("email", "display_name", "role", "status", "delivery",
                                  "posting_status", "joined_at", "bounce_state",
                                  "bounce_score").iterator(chunk_size=2000):
            yield writer.writerow([_csv_safe(c) for c in
                                   (*m[:6], m[6].isoformat(), *m[7:])])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{v.group.name}-members.csv"'
    return response


# --- one member ---------------------------------------------------------------------

@login_required
def member_detail(request: HttpRequest, group_name: str, membership_id: int) -> HttpResponse:
    """One member: who, since when, role, delivery, posting status, bounces, their log."""
    v = access.moderator(request, group_name)
    m = get_object_or_404(Membership.objects.select_related("user"), group=v.group,
                          pk=membership_id)
    may_act = _may_act_on(v, m)
    initial = {"display_name": m.display_name, "role": m.role, "delivery": m.delivery,
               "posting_status": m.posting_status}
    settings_form = MemberSettingsForm(initial=initial, may_change_role=v.is_owner)
    remove_form = RemoveForm()
    status = 200
    if request.method == "POST":
        if not may_act:
            flash.error(request, _("Only owners change an owner's or a moderator's membership."))
            return redirect("mod_member", v.group.name, m.pk)
        do = request.POST.get("do", "")
        if do == "settings":
            settings_form = MemberSettingsForm(request.POST, may_change_role=v.is_owner)
            if settings_form.is_valid():
                refusal = _save_settings(v, m, settings_form.cleaned_data, _actor(request))
                if refusal:
                    flash.error(request, refusal)
                else:
                    flash.success(request, _("%(email)s's settings are saved.") % {"email": m.email})
                    return redirect("mod_member", v.group.name, m.pk)
            status = 400
        elif do in ("remove", "ban", "unban"):
            remove_form = RemoveForm(request.POST)
            if remove_form.is_valid():
                done, refusal = memberpowers.remove(v.group, m, do, _actor(request),
                                                    remove_form.cleaned_data["reason"])
                if refusal:
                    flash.error(request, refusal)
                    return redirect("mod_member", v.group.name, m.pk)
                facts = {"email": m.email, "status": m.get_status_display().lower()}
                if not done:
                    flash.error(request, {
                        "remove": _("%(email)s could not be removed: their membership is "
                                    "%(status)s."),
                        "ban": _("%(email)s could not be banned: their membership is "
                                 "%(status)s."),
                        "unban": _("%(email)s could not be unbanned: their membership is "
                                   "%(status)s.")}[do] % facts)
                else:
                    flash.success(request, {"remove": _("%(email)s is removed."),
                                            "ban": _("%(email)s is banned."),
                                            "unban": _("%(email)s is no longer banned.")}[do]
                                  % facts)
                return redirect("mod_member", v.group.name, m.pk)
            status = 400
        else:
            flash.error(request, _("Unknown action."))
            return redirect("mod_member", v.group.name, m.pk)
    return render(request, "groups/mod/member.html", {
        "v": v, "group": v.group, "m": m, "may_act": may_act,
        "settings_form": settings_form, "remove_form": remove_form,
        "bounces": BounceEvent.objects.filter(membership=m).order_by("-at")[:25],
        "log": [(e, activitylog.describe(e), activitylog.detail_text(e))
                for e in ActivityEntry.objects.filter(
            group=v.group, target=m.email).order_by("-at", "-id")[:50]]}, status=status)


def _save_settings(v: access.Viewer, m: Membership, data: dict, actor: str) -> str:
    """Apply the member settings that changed, each through its own rule, all or none."""
    return memberpowers.save_settings(v.group, m, data, actor)


# --- adding and inviting ------------------------------------------------------------

@login_required
def add(request: HttpRequest, group_name: str) -> HttpResponse:
    """Paste addresses or upload a CSV; see what will happen to each; then do it.

    Only owners (and site admins) may add people directly, without their consent;
    a moderator's additions are always invitations.
    """
    v = access.moderator(request, group_name)
    form = AddMembersForm(request.POST or None, request.FILES or None,
                          may_add_directly=v.is_owner)
    if request.method != "POST":
        return render(request, "groups/mod/add_members.html", {
            "v": v, "group": v.group, "form": form})
    if not form.is_valid():
        return render(request, "groups/mod/add_members.html", {
            "v": v, "group": v.group, "form": form}, status=400)
    invite = form.cleaned_data["invite"] or not v.is_owner
    lines = form.cleaned_data["lines"]
    delivery = form.cleaned_data["delivery"]
    if request.POST.get("confirm") != "yes":
        planned = plan(v.group, lines, invite=invite)
        counts = {key: sum(p.outcome == key for p in planned) for key in OUTCOME_LABELS}
        return render(request, "groups/mod/add_preview.html", {
            "v": v, "group": v.group, "planned": planned, "invite": invite,
            "summary": [(OUTCOME_LABELS[k], n) for k, n in counts.items() if n], "delivery": delivery,
            "delivery_label": Membership.Delivery(delivery).label,
            "lines": "\n".join(lines), "doing": counts["add"] + counts["invite"]})
    report = add_members(v.group, lines, delivery=delivery,
                         status=S.INVITED if invite else S.ACTIVE, actor=_actor(request))
    if invite and report.added:
        send_invitations(v, report.added)
    return render(request, "groups/mod/add_members.html", {
        "v": v, "group": v.group, "report": report, "invite": invite,
        "form": AddMembersForm(may_add_directly=v.is_owner)})


def send_invitations(v: access.Viewer, emails: list[str]) -> None:
    """Mail each invited address its signed link to accept."""
    for m in Membership.objects.filter(group=v.group, email__in=emails, status=S.INVITED):
        # the invitee's own language when they have an account, else the inviter's
        invitee = languages.of_user(User.objects.filter(email__iexact=m.email).first())
        with translation.override(invitee or translation.get_language()):
            text = render_to_string("groups/invitation_mail.txt", {
                "group": v.group, "membership": m, "inviter": v.membership.name
                if v.membership else _("The site's administrators"),
                "url": links.confirm_subscription_url(m.pk)})
            subject = _("Invitation to join %(title)s") % {"title": v.group.display_title}
        mail.send(m.email, subject, text)


# --- bans and sender rules ----------------------------------------------------------

@login_required
def bans(request: HttpRequest, group_name: str) -> HttpResponse:
    """Ban addresses or patterns (members or not); lift a ban."""
    v = access.moderator(request, group_name)
    form = BanForm(group=v.group)
    status = 200
    if request.method == "POST":
        if request.POST.get("lift"):
            rule = get_object_or_404(BanRule, group=v.group, pk=request.POST["lift"])
            with transaction.atomic():
                rule.delete()
                activitylog.record(v.group, actor=_actor(request), verb="unban_rule",
                                   target=rule.pattern)
            flash.success(request, _("The ban on %(pattern)s is lifted.") % {"pattern": rule.pattern})
            return redirect("mod_bans", v.group.name)
        form = BanForm(request.POST, group=v.group)
        if form.is_valid():
            _ban(v, form, _actor(request))
            flash.success(request, _("%(pattern)s is banned.") % {"pattern": form.instance.pattern})
            return redirect("mod_bans", v.group.name)
        status = 400
    return render(request, "groups/mod/bans.html", {
        "v": v, "group": v.group, "form": form,
        "rules": BanRule.objects.filter(group=v.group)}, status=status)


def _ban(v: access.Viewer, form: BanForm, actor: str) -> None:
    """Save the rule; a member it names exactly is banned too (their row says so)."""
    with transaction.atomic():
        rule = form.save(commit=False)
        rule.group = v.group
        rule.created_by = actor
        rule.save()
        activitylog.record(v.group, actor=actor, verb="ban_rule", target=rule.pattern,
                           detail={"reason": rule.reason} if rule.reason else None)
        member = Membership.objects.filter(group=v.group, email=rule.pattern).first()
        if member is not None and _may_act_on(v, member) and (
                member.role != R.OWNER or memberpowers.keeps_an_owner(v.group, [member.pk])):
            membership_actions.ban(member.pk, actor=actor, reason=rule.reason)


@login_required
def sender_rules(request: HttpRequest, group_name: str) -> HttpResponse:
    """Accept, hold, reject or discard posts from non-members, by sender."""
    v = access.moderator(request, group_name)
    form = SenderRuleForm(group=v.group)
    status = 200
    if request.method == "POST":
        if request.POST.get("delete"):
            rule = get_object_or_404(SenderRule, group=v.group, pk=request.POST["delete"])
            with transaction.atomic():
                rule.delete()
                activitylog.record(v.group, actor=_actor(request),
                                   verb="sender_rule_removed", target=rule.pattern)
            flash.success(request, _("The rule for %(pattern)s is removed.") % {
                "pattern": rule.pattern})
            return redirect("mod_sender_rules", v.group.name)
        form = SenderRuleForm(request.POST, group=v.group)
        if form.is_valid():
            with transaction.atomic():
                rule = form.save(commit=False)
                rule.group = v.group
                rule.created_by = _actor(request)
                rule.save()
                activitylog.record(v.group, actor=_actor(request), verb="sender_rule",
                                   target=rule.pattern,
                                   detail={"action": rule.action, "reason": rule.reason})
            flash.success(request, _("Posts from %(pattern)s: %(action)s.") % {
                "pattern": rule.pattern, "action": rule.get_action_display().lower()})
            return redirect("mod_sender_rules", v.group.name)
        status = 400
    return render(request, "groups/mod/sender_rules.html", {
        "v": v, "group": v.group, "form": form,
        "rules": SenderRule.objects.filter(group=v.group)}, status=status)


# --- the activity log and the overview ----------------------------------------------

def filtered_log(v: access.Viewer, form: ActivityFilterForm) -> QuerySet[ActivityEntry]:
    """The group's log under the search: a target's prefix (an index range), a verb."""
    rows = ActivityEntry.objects.filter(group=v.group)
    data = form.cleaned_data if form.is_valid() else {}
    q = (data.get("q") or "").strip().lower()
    if q:
        rows = rows.filter(target__gte=q, target__lt=q + "\U0010ffff")
    if data.get("verb"):
        rows = rows.filter(verb=data["verb"])
    return rows


@login_required
def activity(request: HttpRequest, group_name: str) -> HttpResponse:
    """Every membership change and moderator action, newest first, searchable."""
    v = access.moderator(request, group_name)
    form = ActivityFilterForm(request.GET)
    found = keyset.page(filtered_log(v, form), key="id", params=request.GET,
                        size=LOG_PAGE_SIZE, descending=True, from_text=int)
    query = urlencode({k: v_ for k, v_ in form.cleaned_data.items() if v_}) \
        if form.is_valid() else ""
    return render(request, "groups/mod/activity.html", {
        "v": v, "group": v.group, "form": form, "page": found, "query": query,
        "entries": [(e, activitylog.describe(e), activitylog.detail_text(e))
                    for e in found.items]})


@login_required
def overview_charts(request: HttpRequest, group_name: str) -> HttpResponse:
    """The owner's year at a glance: messages per day, members, bounces per week."""
    v = access.owner(request, group_name)
    return render(request, "groups/mod/overview.html", {
        "v": v, "group": v.group, "charts": [
            charts.bars("Messages per day, last 365 days", overview.messages_per_day(v.group)),
            charts.line("Members at the end of each week, last 52 weeks",
                        overview.members_over_time(v.group)),
            charts.bars("Bounces per week, last 52 weeks", overview.bounces_per_week(v.group),
                        label_format="week to %Y-%m-%d"),
        ]})

