"""The account's connected logins: identities from other providers (OpenID Connect,
GitHub) that log into this account; connect another, unlink one."""

from __future__ import annotations

from allauth.socialaccount.models import SocialAccount
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _


@login_required
def connected_logins(request: HttpRequest) -> HttpResponse:
    accounts = SocialAccount.objects.filter(user=request.user).order_by("provider", "pk")
    if request.method == "POST" and request.POST.get("unlink"):
        account = get_object_or_404(SocialAccount, user=request.user, pk=request.POST["unlink"])
        others = accounts.exclude(pk=account.pk).exists()
        if not others and not request.user.has_usable_password():
            flash.info(request, _("That was your only outside login: from now on, log in "
                                  "with a link emailed to your address, or set a password."))
        name = account.get_provider().name
        account.delete()
        flash.success(request, _("The %(provider)s login is unlinked.") % {"provider": name})
        return redirect("connected_logins")
    return render(request, "groups/connected_logins.html", {
        "accounts": [(a, a.get_provider().name, a.extra_data.get("email", "")
                      if isinstance(a.extra_data, dict) else "") for a in accounts],
        "has_password": request.user.has_usable_password()})
