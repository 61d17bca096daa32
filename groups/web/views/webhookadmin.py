"""Outgoing webhooks on the website: a group's owners manage the group's, site admins the
site-wide ones (every group's events). Each webhook's page shows its delivery log, its
signing secret, and sends a test event on request.

Events are written by messageserver.webhookevents and sent by cronjobs.webhooks; this
module only keeps the webhooks and shows what happened.
"""

from __future__ import annotations

import os
import secrets

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _

from cronjobs.webhooks import deliver
from groups import activitylog
from groups.models import Group, Webhook, WebhookDelivery
from groups.web import access
from messageserver import webhookevents

LOG_SIZE = 50


def private_allowed() -> bool:
    return os.environ.get("WEBHOOK_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")


class WebhookForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=list(webhookevents.EVENTS.items()), widget=forms.CheckboxSelectMultiple,
        label=_("Events to send"), error_messages={"required": _("Choose at least one event.")})

    class Meta:
        model = Webhook
        fields = ["url", "description", "events", "active"]
        labels = {"url": _("Payload URL"), "description": _("Description"),
                  "active": _("Active (send events)")}
        help_texts = {"url": _("An https:// address that takes a JSON POST."),
                      "description": _("What it is for, for the next owner.")}

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        if not url.startswith("https://") and not (
                private_allowed() and url.startswith("http://")):
            raise forms.ValidationError(_("Use an https:// address: events are signed, but "
                                          "they should not travel in the clear."))
        return url


def _scope(request: HttpRequest, group_name: str | None) -> tuple[Group | None, object]:
    """(the group or None for the site's hooks, the viewer or None); owners / admins only."""
    if group_name is None:
        if not request.user.is_superuser:
            raise PermissionDenied(_("Only site admins manage the site's webhooks."))
        return None, None
    v = access.owner(request, group_name)
    return v.group, v


def _actor(request: HttpRequest) -> str:
    return request.user.email


@login_required
def webhook_list(request: HttpRequest, group_name: str | None = None) -> HttpResponse:
    group, v = _scope(request, group_name)
    form = WebhookForm(request.POST or None, initial={"active": True})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                hook = form.save(commit=False)
                hook.group = group
                hook.secret = secrets.token_hex(32)
                hook.created_by = _actor(request)
                hook.save()
                if group is not None:
                    activitylog.record(group, actor=_actor(request), verb="webhook_added",
                                       target=hook.url)
            flash.success(request, _("The webhook is added. Its secret is on its page."))
            return redirect(*_detail_args(hook))
        status = 400
    hooks = Webhook.objects.filter(group=group) if group else Webhook.objects.filter(
        group__isnull=True)
    return render(request, "groups/mod/webhooks.html", {
        "v": v, "group": group, "form": form, "hooks": hooks, "events": webhookevents.EVENTS},
        status=status)


def _detail_args(hook: Webhook) -> list:
    if hook.group_id:
        return ["mod_webhook", hook.group.name, hook.pk]
    return ["site_webhook", hook.pk]


@login_required
def webhook_detail(request: HttpRequest, hook_id: int, group_name: str | None = None
                   ) -> HttpResponse:
    group, v = _scope(request, group_name)
    hook = get_object_or_404(Webhook, pk=hook_id, group=group) if group else get_object_or_404(
        Webhook, pk=hook_id, group__isnull=True)
    form = WebhookForm(instance=hook)
    status = 200
    if request.method == "POST":
        do = request.POST.get("do", "")
        if do == "save":
            form = WebhookForm(request.POST, instance=hook)
            if form.is_valid():
                form.save()
                flash.success(request, _("The webhook is saved."))
                return redirect(*_detail_args(hook))
            status = 400
        elif do == "test":
            row = webhookevents.emit(group, webhookevents.TEST_EVENT, {
                "message": "A test event, sent from the webhook's page.",
                "by": _actor(request)}, only=hook)[0]
            result = deliver(row.pk, force=True)
            if result.outcome == "delivered":
                flash.success(request, _("The test event was delivered (HTTP %(status)s).")
                              % {"status": result.status})
            else:
                flash.error(request, _("The test event was not taken: %(error)s. It will be "
                                       "tried again.") % {"error": result.error})
            return redirect(*_detail_args(hook))
        elif do == "resend":
            row = get_object_or_404(WebhookDelivery, webhook=hook, pk=request.POST.get("id"))
            WebhookDelivery.objects.filter(pk=row.pk, state__in=[
                WebhookDelivery.State.FAILED, WebhookDelivery.State.PENDING]).update(
                state=WebhookDelivery.State.PENDING)
            result = deliver(row.pk, force=True)
            flash.info(request, _("Sent again: %(outcome)s.") % {"outcome": result.outcome})
            return redirect(*_detail_args(hook))
        elif do == "rotate":
            Webhook.objects.filter(pk=hook.pk).update(secret=secrets.token_hex(32))
            flash.success(request, _("The secret is new: update the receiver."))
            return redirect(*_detail_args(hook))
        elif do == "delete":
            with transaction.atomic():
                hook.delete()
                if group is not None:
                    activitylog.record(group, actor=_actor(request), verb="webhook_removed",
                                       target=hook.url)
            flash.success(request, _("The webhook is deleted."))
            return redirect("mod_webhooks", group.name) if group else redirect("site_webhooks")
    return render(request, "groups/mod/webhook.html", {
        "v": v, "group": group, "hook": hook, "form": form,
        "deliveries": hook.deliveries.order_by("-created_at", "-pk")[:LOG_SIZE]},
        status=status)
