"""Owners run their group: create one, its settings in sections, the danger zone, notices.

Only owners (and site admins) reach these pages; anyone else gets the same
404 as for a missing group (groups.web.access). Each settings section is its
own form and its own Save, so saving one never touches another's fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from groups import deletion, groupcreation
from groups.models import Membership, NoticeTemplate
from groups.web import access, noticeeditor
from groups.web.footer import FooterError, render_footer, sample_vars
from groups.web.groupforms import (
    CreateGroupForm,
    DeleteGroupForm,
    DeliveryForm,
    FormattingForm,
    GeneralForm,
    LimitsForm,
    NoticeForm,
    PostingForm,
    PrivacyForm,
    ToolsForm,
    TransferOwnershipForm,
)

R = Membership.Role


# --- create a group ----------------------------------------------------------------

@login_required
def create_group(request: HttpRequest) -> HttpResponse:
    if not groupcreation.may_create(request.user):
        raise PermissionDenied(_("Only the site's staff create groups here."))
    form = CreateGroupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                group = groupcreation.create_for(request.user, data)
            except groupcreation.NameTaken:
                form.add_error("name", _("A group named “%(name)s” exists already.") % {
                    "name": data["name"]})
            else:
                flash.success(request, _("%(title)s is created, and you are its owner. Its address is "
                                         "%(address)s.") % {"title": group.display_title,
                                                            "address": group.post_address})
                return redirect("mod_settings_section", group.name, "general")
        status = 400
    return render(request, "groups/create_group.html", {"form": form}, status=status)


@login_required
@require_GET
def check_group_name(request: HttpRequest) -> JsonResponse:
    """The live check behind the name field: {"ok": bool, "message": str}."""
    name = request.GET.get("name", "").strip().lower()[:100]
    problem = groupcreation.name_problem(name)
    return JsonResponse({"ok": not problem, "name": name,
                         "message": problem or f"{name} is available."})


# --- settings, in sections ---------------------------------------------------------

@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    form: type[ModelForm] | None
    intro: str


SECTIONS = [
    Section("general", gettext_lazy("General"), GeneralForm,
            gettext_lazy("What the group is called, what it is for, and its guidelines.")),
    Section("privacy", gettext_lazy("Privacy and joining"), PrivacyForm,
            gettext_lazy("Who can find the group, read its archive and join it.")),
    Section("posting", gettext_lazy("Posting and moderation"), PostingForm,
            gettext_lazy("Who may post, which posts a moderator sees first, and for how long.")),
    Section("formatting", gettext_lazy("Message formatting"), FormattingForm,
            gettext_lazy("How the group's posts look in members' mailboxes.")),
    Section("delivery", gettext_lazy("Delivery"), DeliveryForm,
            gettext_lazy("How posts are sent to members: a personal copy each, or one copy "
                         "for all.")),
    Section("limits", gettext_lazy("Limits"), LimitsForm, gettext_lazy("How large posts and their attachments may be.")),
    Section("tools", gettext_lazy("Group tools"), ToolsForm,
            gettext_lazy("The calendar, polls, files, photos and wiki.")),
    Section("danger", gettext_lazy("Danger zone"), None,
            gettext_lazy("Give the group to another member, or delete it with its whole archive.")),
]
BY_SLUG = {s.slug: s for s in SECTIONS}


def settings_home(request: HttpRequest, group_name: str) -> HttpResponse:
    """The settings' first section, General."""
    return settings_section(request, group_name, "general")


@login_required
def settings_section(request: HttpRequest, group_name: str, section: str) -> HttpResponse:
    v = access.owner(request, group_name)
    sec = BY_SLUG.get(section)
    if sec is None:
        raise Http404("no such settings section")
    if sec.form is None:
        return _danger(request, v)
    form = sec.form(request.POST or None, instance=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            form.save()
            flash.success(request, _("%(section)s settings are saved.") % {"section": sec.title})
            return redirect("mod_settings_section", v.group.name, sec.slug)
        status = 400
    ctx = {"v": v, "group": v.group, "form": form, "section": sec, "sections": SECTIONS}
    if sec.slug == "formatting":
        try:
            ctx["footer_preview"] = render_footer(form["footer_template"].value() or "",
                                                  v.group)
        except FooterError as exc:
            ctx["footer_preview"] = str(exc)
        ctx["footer_variables"] = list(sample_vars(v.group))
    return render(request, "groups/mod/settings.html", ctx, status=status)


def _danger(request: HttpRequest, v: access.Viewer) -> HttpResponse:
    group = v.group
    transfer = TransferOwnershipForm(
        request.POST if request.POST.get("action") == "transfer" else None,
        group=group)
    delete = DeleteGroupForm(request.POST if request.POST.get("action") == "delete" else None,
                             group=group)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "transfer" and transfer.is_valid():
            new_owner = transfer.cleaned_data["new_owner"]
            with transaction.atomic():
                Membership.objects.filter(pk=new_owner.pk).update(role=R.OWNER)
                if v.membership is not None and v.membership.role == R.OWNER:
                    Membership.objects.filter(pk=v.membership.pk).update(role=R.MODERATOR)
            flash.success(request, _("%(name)s is now an owner of %(title)s.") % {
                "name": new_owner.name, "title": group.display_title})
            if v.is_site_admin or v.membership is None or new_owner.pk == v.membership.pk:
                return redirect("mod_settings_section", group.name, "danger")
            return redirect("mod_dashboard", group.name)
        if action == "delete" and delete.is_valid():
            title = group.display_title
            deletion.delete_group(group)
            flash.success(request, _("%(name)s is deleted, with its members and archive.") % {
                "name": title})
            return redirect("directory")
        status = 400
    return render(request, "groups/mod/settings_danger.html", {
        "v": v, "group": group, "section": BY_SLUG["danger"], "sections": SECTIONS,
        "transfer": transfer, "delete": delete}, status=status)


# --- notices -----------------------------------------------------------------------

@login_required
def notices(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.owner(request, group_name)
    custom = set(NoticeTemplate.objects.filter(group=v.group).values_list("kind", flat=True))
    return render(request, "groups/mod/notices.html", {
        "v": v, "group": v.group,
        "kinds": [(k, k.kind in custom) for k in noticeeditor.KINDS.values()]})


@login_required
def notice_edit(request: HttpRequest, group_name: str, kind: str) -> HttpResponse:
    v = access.owner(request, group_name)
    info = noticeeditor.KINDS.get(kind)
    if info is None:
        raise Http404("no such notice")
    saved = NoticeTemplate.objects.filter(group=v.group, kind=kind).first()
    if request.method == "POST" and request.POST.get("action") == "reset":
        NoticeTemplate.objects.filter(group=v.group, kind=kind).delete()
        flash.success(request, _("The notice “%(label)s” is back to the default.") % {
            "label": info.label})
        return redirect("mod_notice", v.group.name, kind)
    subject, body = (saved.subject, saved.body) if saved else noticeeditor.default_wording(kind)
    form = NoticeForm(request.POST or None, initial={"subject": subject, "body": body},
                      kind=kind, group=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            NoticeTemplate.objects.update_or_create(
                group=v.group, kind=kind, defaults={"subject": form.cleaned_data["subject"],
                                                    "body": form.cleaned_data["body"]})
            flash.success(request, _("The notice “%(label)s” is saved.") % {
                "label": info.label})
            return redirect("mod_notice", v.group.name, kind)
        status = 400
    try:
        shown = noticeeditor.preview(kind, v.group, form["subject"].value() or "",
                                     form["body"].value() or "")
        problem = ""
    except noticeeditor.NoticeError as exc:
        shown, problem = ("", ""), str(exc)
    return render(request, "groups/mod/notice_edit.html", {
        "v": v, "group": v.group, "info": info, "form": form, "customised": saved is not None,
        "preview_subject": shown[0], "preview_body": shown[1], "problem": problem},
        status=status)


@login_required
@require_POST
def notice_preview(request: HttpRequest, group_name: str, kind: str) -> JsonResponse:
    """The live preview: {"subject", "body"} or {"error", "field"} with status 400."""
    v = access.owner(request, group_name)
    if kind not in noticeeditor.KINDS:
        raise Http404("no such notice")
    try:
        subject, body = noticeeditor.preview(kind, v.group, request.POST.get("subject", ""),
                                             request.POST.get("body", ""))
    except noticeeditor.NoticeError as exc:
        return JsonResponse({"error": str(exc), "field": exc.field}, status=400)
    return JsonResponse({"subject": subject, "body": body})
