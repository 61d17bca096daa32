"""The account's API keys page: make a key (shown once), see when each was last used,
revoke one. The keys themselves are made, found and revoked by groups.apikeys."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from groups import apikeys
from groups.models import ApiKey, Group, Membership


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Key name"),
                           help_text=_("What the key is for, e.g. “backup script”."))
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, initial=ApiKey.Scope.READ,
                              label=_("Access"), widget=forms.RadioSelect)
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(), required=False, label=_("Only for the group"),
        empty_label=_("All my groups"),
        help_text=_("Limit the key to one group; it can do nothing elsewhere."))
    expires = forms.DateField(required=False, label=_("Expires on"),
                              widget=forms.DateInput(attrs={"type": "date"}),
                              help_text=_("Empty: the key works until you revoke it."))

    def __init__(self, *args, user, **kwargs):  # noqa: ANN001
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = Group.objects.filter(
            memberships__user=user, memberships__status=Membership.Status.ACTIVE
        ).order_by("name").distinct()

    def clean_expires(self):  # noqa: ANN201
        day = self.cleaned_data["expires"]
        if day is not None and day <= timezone.localdate():
            raise forms.ValidationError(_("Choose a day after today."))
        return day


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None, user=request.user)
    made = ""
    status = 200
    if request.method == "POST":
        if request.POST.get("revoke"):
            row = get_object_or_404(ApiKey, user=request.user, pk=request.POST["revoke"])
            apikeys.revoke(row)
            flash.success(request, _("The key “%(name)s” is revoked.") % {"name": row.name})
            return redirect("api_keys")
        if form.is_valid():
            data = form.cleaned_data
            expires = (timezone.make_aware(datetime.combine(data["expires"], time.max))
                       if data["expires"] else None)
            _row, made = apikeys.create(request.user, data["name"], scope=data["scope"],
                                        group=data["group"], expires_at=expires)
            form = ApiKeyForm(user=request.user)
        else:
            status = 400
    return render(request, "groups/api_keys.html", {
        "form": form, "made": made,
        "keys": ApiKey.objects.filter(user=request.user).select_related("group")},
        status=status)
