"""Members: my groups, join and leave under the join policy, subscription settings."""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from groups import accountemails
from groups.models import Hashtag, HashtagPreference, Membership, Topic, TopicPreference
from groups.web import access, nextpage
from groups.web.forms import SubscriptionForm
from messageserver import membership_actions

S = Membership.Status


@login_required
def my_groups(request: HttpRequest) -> HttpResponse:
    user = request.user
    memberships = (accountemails.memberships_of(user)
                   .exclude(status=S.REMOVED)
                   .select_related("group").order_by("group__name"))
    return render(request, "groups/my_groups.html", {"memberships": memberships})


def _confirm(request: HttpRequest, v: access.Viewer, action: str) -> HttpResponse:
    """GET of join or leave: the login page sends people back here with a GET, so the
    action they asked for waits for them as a button (a GET never changes anything)."""
    return render(request, "groups/confirm_membership.html", {
        "v": v, "group": v.group, "action": action,
        "route": membership_actions.join_route(v.group, v.membership, request.user.email)})


@login_required
def join(request: HttpRequest, group_name: str) -> HttpResponse:
    """Open groups take you at once, approval groups queue you, invite-only needs an invite.

    A GET asks first, except on arrival from a sign-up that began at this group's Join
    button (groups.web.nextpage): that sign-up was the request. The membership starts
    with the account's default delivery for new groups.
    """
    v = access.viewer(request, group_name)
    group, m = v.group, v.membership
    route = membership_actions.join_route(group, m, request.user.email)
    arriving = request.session.pop(nextpage.JOIN_ON_ARRIVAL, None) == group.name
    if request.method != "POST" and not arriving and route not in (
            membership_actions.ALREADY, membership_actions.WAITING):
        return _confirm(request, v, "join")
    if route == membership_actions.ALREADY:
        flash.info(request, _("You are already a member of %(name)s.") % {"name": group.name})
    elif route == membership_actions.BANNED:
        flash.error(request, _("You can't join this group."))
    elif route == membership_actions.INVITE_ONLY:
        flash.error(request, _("This group is by invitation only."))
    elif route == membership_actions.NEEDS_PARENT:
        flash.error(request, _("Only members of %(parent)s join this subgroup: join %(parent)s "
                               "first.") % {"parent": group.parent.display_title})
    elif route == membership_actions.WAITING:
        flash.info(request, _("Your request to join was sent to the group's owners."))
    else:
        user = request.user
        start = {"user": user}
        if user.default_delivery in Membership.Delivery.values:
            start["delivery"] = user.default_delivery
        with transaction.atomic():
            if m is None:
                m = membership_actions.membership_row(group, user.email, user=user)
            if route == membership_actions.NEEDS_APPROVAL:
                membership_actions.request_join(m, actor=user.email, **start)
            else:
                membership_actions.join(m, actor=user.email, **start)
        if route == membership_actions.OPEN:
            flash.success(request, _("Welcome to %(title)s.") % {"title": group.display_title})
        else:
            flash.info(request, _("Your request to join was sent to the group's owners."))
    return redirect("group_home", group.name)


@login_required
def leave(request: HttpRequest, group_name: str) -> HttpResponse:
    v = access.viewer(request, group_name)
    m = v.membership
    if m is None or m.status != S.ACTIVE:
        flash.info(request, _("You are not a member of this group."))
        return redirect("group_home", v.group.name)
    if request.method != "POST":
        return _confirm(request, v, "leave")
    if m.role == Membership.Role.OWNER and not Membership.objects.filter(
            group=v.group, role=Membership.Role.OWNER, status=S.ACTIVE).exclude(pk=m.pk).exists():
        flash.error(request, _("You are the group's only owner: make someone else owner first."))
        return redirect("group_home", v.group.name)
    membership_actions.leave(m, actor=request.user.email)
    flash.success(request, _("You left %(title)s.") % {"title": v.group.display_title})
    if not v.can_see_group or not v.group.is_listed:
        return redirect("my_groups")
    return redirect("group_home", v.group.name)


def _member(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.viewer(request, group_name)
    if not v.is_member:
        raise Http404("members only")
    return v


@login_required
def subscription(request: HttpRequest, group_name: str) -> HttpResponse:
    """Delivery, message selection, and per-hashtag mute/follow, in one form."""
    v = _member(request, group_name)
    m = v.membership
    hashtags = list(Hashtag.objects.filter(group=v.group))
    prefs = dict(HashtagPreference.objects.filter(membership=m).values_list("hashtag_id", "mode"))
    addresses = accountemails.verified_addresses(request.user)
    form = SubscriptionForm(request.POST or None, instance=m, addresses=addresses)
    if request.method == "POST" and form.is_valid() and _set_address(request, form, m):
        form.save(commit=False)  # the delivery goes through its action, the rest is prose
        Membership.objects.filter(pk=m.pk).update(display_name=m.display_name,
                                                  message_selection=m.message_selection)
        membership_actions.set_delivery(m, m.delivery, by_member=True,
                                        actor=request.user.email)
        for tag in hashtags:
            mode = request.POST.get(f"hashtag_{tag.pk}", "")
            if mode in TopicPreference.Mode.values:
                HashtagPreference.objects.update_or_create(membership=m, hashtag=tag,
                                                           defaults={"mode": mode})
            else:
                HashtagPreference.objects.filter(membership=m, hashtag=tag).delete()
        flash.success(request, _("Your subscription settings are saved."))
        return redirect("subscription", v.group.name)
    topic_prefs = TopicPreference.objects.filter(membership=m).select_related("topic")
    return render(request, "groups/subscription.html", {
        "v": v, "group": v.group, "form": form,
        "hashtags": [(t, prefs.get(t.pk, "")) for t in hashtags], "topic_prefs": topic_prefs},
        status=400 if form.errors else 200)


def _set_address(request: HttpRequest, form: SubscriptionForm, m: Membership) -> bool:
    """The chosen delivery address, through its action; a refusal becomes the field's error."""
    if m.user_id is None:  # matched by address only: the row becomes the account's
        Membership.objects.filter(pk=m.pk, user=None).update(user=request.user)
    try:
        membership_actions.set_address(m.pk, form.cleaned_data["address"],
                                       actor=request.user.email)
    except membership_actions.AddressRefused as exc:
        form.add_error("address", str(exc))
        return False
    m.email = form.cleaned_data["address"]
    return True


@login_required
@require_POST
def topic_preference(request: HttpRequest, group_name: str, topic_id: int) -> HttpResponse:
    v = _member(request, group_name)
    the_topic = get_object_or_404(Topic, group=v.group, pk=topic_id)
    mode = request.POST.get("mode", "")
    if mode in TopicPreference.Mode.values:
        TopicPreference.objects.update_or_create(membership=v.membership, topic=the_topic,
                                                 defaults={"mode": mode})
    elif mode == "none":
        TopicPreference.objects.filter(membership=v.membership, topic=the_topic).delete()
    else:
        flash.error(request, _("Choose mute, follow or neither."))
    if request.POST.get("next") == "subscription":
        return redirect("subscription", v.group.name)
    return redirect("topic", v.group.name, the_topic.pk)
