"""Views behind the signed links we email: unsubscribe, mute, confirm, restore, moderate.

Each checks its token with groups.tokens (one signing rule for the platform)
and needs no login: the token is the proof. A GET only shows what the link
will do, and a POST does it, so a mail scanner following links changes nothing.
The one-click unsubscribe POST (RFC 8058) comes from mail clients without a
CSRF token, so it alone is CSRF-exempt; it is idempotent and answers 200.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from groups import tokens
from groups.models import HeldMessage, Membership, Topic, TopicPreference, User
from messageserver import membership_actions
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable


def bad_link(request: HttpRequest, error: Exception | str) -> HttpResponse:
    return render(request, "groups/bad_link.html", {"error": str(error)}, status=400)


def _membership(purpose: str, token: str, *, expires: bool = False) -> Membership:
    parts = tokens.check(purpose, token, expires=expires)
    try:
        return Membership.objects.select_related("group").get(pk=int(parts[0]))
    except (ValueError, IndexError, Membership.DoesNotExist):
        raise tokens.BadToken("this link names a membership that no longer exists") from None


def _is_one_click(request: HttpRequest) -> bool:
    """RFC 8058's body, whether posted form-encoded, as multipart or with no content type."""
    if b"List-Unsubscribe=One-Click" in request.body[:4000]:
        return True
    return request.POST.get("List-Unsubscribe") == "One-Click"


@csrf_exempt
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: confirm. POST ``List-Unsubscribe=One-Click``: leave the group (idempotent, 200)."""
    try:
        membership = _membership(tokens.UNSUBSCRIBE, token)
    except tokens.BadToken as exc:
        return bad_link(request, exc)
    if request.method == "POST":
        if not _is_one_click(request):
            return render(request, "groups/bad_link.html", {
                "error": "an unsubscribe request must carry List-Unsubscribe=One-Click"},
                status=400)
        membership_actions.leave(membership)
        return render(request, "groups/unsubscribed.html", {"membership": membership,
                                                            "group": membership.group})
    return render(request, "groups/unsubscribe.html", {
        "membership": membership, "group": membership.group, "token": token,
        "already": membership.status == Membership.Status.UNSUBSCRIBED})


def mute_topic(request: HttpRequest, token: str) -> HttpResponse:
    try:
        parts = tokens.check(tokens.MUTE_TOPIC, token)
        membership = Membership.objects.select_related("group").get(pk=int(parts[0]))
        the_topic = Topic.objects.get(pk=int(parts[1]), group=membership.group)
    except (tokens.BadToken, ValueError, IndexError,
            Membership.DoesNotExist, Topic.DoesNotExist) as exc:
        return bad_link(request, exc if isinstance(exc, tokens.BadToken)
                        else "this link names a topic or membership that no longer exists")
    done = False
    if request.method == "POST":
        TopicPreference.objects.update_or_create(
            membership=membership, topic=the_topic,
            defaults={"mode": TopicPreference.Mode.MUTE})
        done = True
    return render(request, "groups/mute_topic.html", {
        "membership": membership, "group": membership.group, "topic": the_topic, "done": done})


def confirm_subscription(request: HttpRequest, token: str) -> HttpResponse:
    """Double opt-in: the subscriber confirms; an approval group then asks its owners."""
    try:
        membership = _membership(tokens.CONFIRM_SUBSCRIBE, token)
    except tokens.BadToken as exc:
        return bad_link(request, exc)
    group = membership.group
    if request.method == "POST":
        membership_actions.confirm(membership)
        membership.refresh_from_db()
    return render(request, "groups/confirm_subscription.html", {
        "membership": membership, "group": group})


def restore_membership(request: HttpRequest, token: str) -> HttpResponse:
    """After a complaint removed someone, or their mail bounced: back within the link's days."""
    try:
        membership = _membership(tokens.RESTORE, token, expires=True)
    except tokens.BadToken as exc:
        return bad_link(request, exc)
    restored = False
    if request.method == "POST":
        # the one rule (and the welcome-back notice): only a removed or bouncing member
        restored = membership_actions.restore(membership.pk)
        membership.refresh_from_db()
    return render(request, "groups/restore_membership.html", {
        "membership": membership, "group": membership.group, "restored": restored,
        "bouncing": membership.bounce_state == Membership.BounceState.BOUNCING})


def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        parts = tokens.check(tokens.CONFIRM_EMAIL, token, expires=True)
        user = User.objects.get(pk=int(parts[0]))
    except (tokens.BadToken, ValueError, IndexError, User.DoesNotExist) as exc:
        return bad_link(request, exc if isinstance(exc, tokens.BadToken)
                        else "this link names an account that no longer exists")
    if request.method == "POST":
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(email_confirmed=True, is_active=True)
            # Memberships made by email before the account existed now belong to it.
            Membership.objects.filter(email=user.email.lower(), user=None).update(user=user)
        flash.success(request, "Your email address is confirmed. You can log in now.")
        return redirect("login")
    return render(request, "groups/confirm_email.html", {"account": user})


def moderate_link(request: HttpRequest, token: str, action: str) -> HttpResponse:
    """A moderator's emailed approve/reject link: preview, then decide through messageserver."""
    if action not in ("approve", "reject"):
        return bad_link(request, "the action must be approve or reject")
    try:
        parts = tokens.check(tokens.MODERATE, token)
        held = HeldMessage.objects.select_related("group").get(pk=int(parts[0]))
    except (tokens.BadToken, ValueError, IndexError, HeldMessage.DoesNotExist) as exc:
        return bad_link(request, exc if isinstance(exc, tokens.BadToken)
                        else "this held message no longer exists")
    error = result = None
    if request.method == "POST" and held.state == HeldMessage.State.PENDING:
        who = request.user.email if request.user.is_authenticated else "moderator (signed link)"
        try:
            result = MessageServerClient().moderate(held.pk, action, who,
                                                    request.POST.get("reason", "")[:2000])
        except MessageServerError as exc:
            error = exc.body.get("error", str(exc))
        except MessageServerUnavailable:
            error = "The message server can't be reached right now; please try again shortly."
        held.refresh_from_db()
    from groups.web.heldpreview import preview

    return render(request, "groups/moderate_link.html", {
        "held": held, "group": held.group, "action": action, "error": error,
        "result": result, "preview": preview(held)}, status=503 if error and "reach" in error
        else 200)
