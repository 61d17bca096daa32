"""The moderation queue on the web: held messages, their decisions, saved reject reasons.

Every decision goes through messageserver (POST /v1/moderation/ID through
MessageServerClient), the same path as a moderator's emailed reply, so the
rule (approve, approve and unmoderate, edit, reject, discard) lives in one
place: messageserver.moderation. This module only shows, asks and reports.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from groups import activitylog
from groups.models import HeldMessage, ModerationReason
from groups.web import access
from groups.web.heldpreview import preview
from groups.web.pages import paginate
from groups.web.queueforms import ModerationReasonForm, QueueDecisionForm
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable
from messageserver.mailparse import parse


def done_message(action: str, decided: list[str]) -> str:
    """What was done, as one sentence: "“Subject” approved." or "3 messages rejected."."""
    if len(decided) == 1:
        one = {"approve": _("“%(subject)s” approved."),
               "approve_unmoderate": _("“%(subject)s” approved (sender unmoderated)."),
               "approve_edited": _("“%(subject)s” approved as edited."),
               "reject": _("“%(subject)s” rejected."),
               "discard": _("“%(subject)s” discarded.")}[action]
        return one % {"subject": decided[0]}
    n = len(decided)
    many = {"approve": ngettext("%(count)d message approved.", "%(count)d messages approved.", n),
            "approve_unmoderate": ngettext(
                "%(count)d message approved (sender unmoderated).",
                "%(count)d messages approved (senders unmoderated).", n),
            "approve_edited": ngettext("%(count)d message approved as edited.",
                                       "%(count)d messages approved as edited.", n),
            "reject": ngettext("%(count)d message rejected.", "%(count)d messages rejected.", n),
            "discard": ngettext("%(count)d message discarded.",
                                "%(count)d messages discarded.", n)}[action]
    return many % {"count": n}


@login_required
def pending_messages(request: HttpRequest, group_name: str) -> HttpResponse:
    """The queue: each held message with why, what it says and its attachments; decide."""
    v = access.moderator(request, group_name)
    form = QueueDecisionForm(request.POST or None, group=v.group)
    if request.method == "POST":
        if form.is_valid():
            if _decide(request, v, form):
                return redirect(request.get_full_path())
        return _queue_page(request, v, form, status=400)
    return _queue_page(request, v, form)


def _decide(request: HttpRequest, v: access.Viewer, form: QueueDecisionForm) -> bool:
    """Send each decision to messageserver; False when an edit was refused (page again)."""
    action = form.cleaned_data["action"]
    client = MessageServerClient()
    decided: list[str] = []
    problems: list[str] = []
    edit = {}
    if action == "approve_edited":
        edit = {"subject": form.cleaned_data["subject"], "body": form.cleaned_data["body"]}
    reason = form.reject_reason if action == "reject" else ""
    for held in HeldMessage.objects.filter(group=v.group, pk__in=form.cleaned_data["ids"]):
        try:
            client.moderate(held.pk, "approve" if action == "approve_edited" else action,
                            request.user.email, reason, **edit)
        except MessageServerUnavailable:
            problems.append(_("The message server can't be reached; nothing more was decided. "
                              "Please try again in a minute."))
            break
        except MessageServerError as exc:
            fields = exc.body.get("fields") or {}
            if edit and fields:
                for name, problem in fields.items():
                    form.add_error(name if name in form.fields else None, problem)
                return False
            problems.append(f"“{held.subject}”: {exc.body.get('error', str(exc))}")
        else:
            decided.append(held.subject or _("(no subject)"))
    if decided:
        flash.success(request, done_message(action, decided))
    for problem in problems:
        flash.error(request, problem)
    return True


def _queue_page(request: HttpRequest, v: access.Viewer, form: QueueDecisionForm,
                status: int = 200) -> HttpResponse:
    page = paginate(request, HeldMessage.objects.filter(
        group=v.group, state=HeldMessage.State.PENDING).select_related("membership")
        .order_by("created_at"), per_page=10)
    edit: dict = {}
    if form.is_bound and form.data.get("action") == "approve_edited":
        ids = form.data.getlist("ids")
        edit = {"id": int(ids[0]) if len(ids) == 1 and ids[0].isdigit() else None,
                "subject": form.data.get("subject", ""), "body": form.data.get("body", "")}
    reasons = list(ModerationReason.objects.filter(group=v.group))
    return render(request, "groups/mod/pending_messages.html", {
        "v": v, "group": v.group, "page": page, "form": form, "reasons": reasons,
        "edit": edit, "items": [(h, preview(h)) for h in page],
        "decided": recently_decided(v)}, status=status)


def recently_decided(v: access.Viewer, limit: int = 20) -> list[dict]:
    """The last decisions, for the record: who decided what, why, and whether it was edited."""
    return list(HeldMessage.objects.filter(group=v.group).exclude(
        state=HeldMessage.State.PENDING).order_by("-decided_at", "-pk").annotate(
        edited=ExpressionWrapper(Q(edited_raw__isnull=False), output_field=BooleanField()))
        .values("subject", "state", "decided_by", "decided_at", "decision_reason",
                "edited")[:limit])


@login_required
def held_attachment(request: HttpRequest, group_name: str, held_id: int,
                    index: int) -> HttpResponse:
    """One attachment of a held message, for moderators only, always as a download.

    It came from anyone on the internet: sent as application/octet-stream with
    Content-Disposition: attachment, so the browser never renders it on our site.
    """
    v = access.moderator(request, group_name)
    held = get_object_or_404(HeldMessage, group=v.group, pk=held_id)
    attachments = parse(bytes(held.raw)).attachments
    if not 0 <= index < len(attachments):
        raise Http404("no such attachment")
    part = attachments[index]
    response = HttpResponse(part.data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(
        True, part.filename or f"attachment-{index + 1}")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
def reasons(request: HttpRequest, group_name: str, reason_id: int | None = None
            ) -> HttpResponse:
    """The group's saved reject reasons: add, edit (?reason_id) and delete."""
    v = access.moderator(request, group_name)
    instance = get_object_or_404(ModerationReason, group=v.group, pk=reason_id) \
        if reason_id else None
    form = ModerationReasonForm(request.POST or None, instance=instance, group=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                reason = form.save(commit=False)
                reason.group = v.group
                reason.save()
                activitylog.record(v.group, actor=request.user.email, verb="save_reason",
                                   target=reason.title, detail={"text": reason.text})
            flash.success(request, _("Reason “%(title)s” saved.") % {"title": reason.title})
            return redirect("mod_reasons", v.group.name)
        status = 400
    return render(request, "groups/mod/reasons.html", {
        "v": v, "group": v.group, "form": form, "editing": instance,
        "reasons": ModerationReason.objects.filter(group=v.group)}, status=status)


@login_required
@require_POST
def reason_delete(request: HttpRequest, group_name: str, reason_id: int) -> HttpResponse:
    v = access.moderator(request, group_name)
    reason = get_object_or_404(ModerationReason, group=v.group, pk=reason_id)
    with transaction.atomic():
        activitylog.record(v.group, actor=request.user.email, verb="delete_reason",
                           target=reason.title)
        reason.delete()
    flash.success(request, _("Reason “%(title)s” deleted.") % {"title": reason.title})
    return redirect("mod_reasons", v.group.name)
