"""Site admins: the recent errors every process reported to errord, what Karl refused,
and the DNS records.

The errors page reads errord over its HTTP API; when errord is down the page
says so plainly instead of failing, since that is exactly when an admin looks.
The DNS page asks the DNS, live, for every record the domain must publish
(groups/dnsrecords.py) and shows each as OK, missing, wrong or unknown.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import ngettext

from errord.client import ErrordClient, ErrordError, ErrordUnavailable
from groups.dnsrecords import check_records

SINCES = ["1h", "24h", "7d", "30d"]


@user_passes_test(lambda u: u.is_authenticated and u.is_superuser)
def errors(request: HttpRequest) -> HttpResponse:
    since = request.GET.get("since", "24h")
    if since not in SINCES:
        since = "24h"
    service = request.GET.get("service", "").strip()[:40] or None
    groups, problem = [], None
    try:
        with ErrordClient() as client:
            groups = client.groups(since=since, service=service, limit=100)
    except ErrordUnavailable as exc:
        problem = f"errord unreachable: {exc}"
    except ErrordError as exc:
        problem = f"errord refused the request: {exc}"
    return render(request, "groups/site_errors.html", {
        "groups": groups, "problem": problem, "since": since, "sinces": SINCES,
        "service": service or ""}, status=200)


@user_passes_test(lambda u: u.is_authenticated and u.is_superuser)
def outbox(request: HttpRequest) -> HttpResponse:
    """Outbox items Karl refused (platform bugs, reported to errord); POST retries them."""
    from groups.models import OutboxItem
    from messageserver import outboxfailures
    from messageserver.outbox import retry_failed

    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()]
        count = retry_failed(ids or None)
        flash.success(request, ngettext("%(count)d item queued again.", "%(count)d items queued again.",
                                        count) % {"count": count})
        return redirect("site_outbox")
    items = [(item, outboxfailures.group_name(item))
             for item in outboxfailures.failed_items()[:200]]
    from messageserver.karlnodes import node_states

    return render(request, "groups/site_outbox.html", {
        "items": items, "nodes": node_states(),
        "pending": OutboxItem.objects.filter(state=OutboxItem.State.PENDING).count()})


@user_passes_test(lambda u: u.is_authenticated and u.is_superuser)
def dns(request: HttpRequest) -> HttpResponse:
    checks = check_records()
    return render(request, "groups/site_dns.html", {
        "checks": checks, "all_ok": all(c.status == "ok" for c in checks)})
