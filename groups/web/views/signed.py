"""Views behind the signed links we email: unsubscribe, mute, confirm, restore, moderate.

Each checks its token with groups.tokens (one signing rule for the platform)
and needs no login: the token is the proof. A GET only shows what the link
will do, and a POST does it, so a mail scanner following links changes nothing
(a sign-up's confirmation acts on a GET only in the browser that signed up, whose
session no scanner has).
The one-click unsubscribe POST (RFC 8058) comes from mail clients without a
CSRF token, so it alone is CSRF-exempt; it is idempotent and answers 200.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth import login as auth_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from groups import ratelimit, tokens
from groups.models import HeldMessage, Membership, Topic, TopicPreference, User
from groups.web import nextpage, signup
from groups.web.forms import ConfirmEmailForm
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
        membership_actions.leave(membership, actor=membership.email)
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
        membership_actions.confirm(membership, actor=membership.email)
        membership.refresh_from_db()
    return render(request, "groups/confirm_subscription.html", {
        "membership": membership, "group": group})


SUPERSEDED = ("this restore link was for an earlier removal, or has been used already; "
              "it can't undo what happened since. Ask the group's owners, or join again.")


def restore_membership(request: HttpRequest, token: str) -> HttpResponse:
    """After a complaint removed someone, or their mail bounced: back within the link's days.

    The token names the removal it was issued for (Membership.removal_serial):
    after a later removal by an owner, or once used, the link shows a clear page.
    """
    try:
        parts = tokens.check(tokens.RESTORE, token, expires=True)
        membership = Membership.objects.select_related("group").get(pk=int(parts[0]))
        serial = int(parts[1])
    except tokens.BadToken as exc:
        return bad_link(request, exc)
    except (ValueError, IndexError, Membership.DoesNotExist):
        return bad_link(request, "this link names a membership that no longer exists")
    if membership.removal_serial != serial:
        return bad_link(request, SUPERSEDED)
    restored = False
    if request.method == "POST":
        # the one rule (and the welcome-back notice): only a removed or bouncing member
        restored = membership_actions.restore(membership.pk, removal_serial=serial,
                                              actor=membership.email)
        membership.refresh_from_db()
        if not restored and membership.removal_serial != serial:
            return bad_link(request, SUPERSEDED)
    return render(request, "groups/restore_membership.html", {
        "membership": membership, "group": membership.group, "restored": restored,
        "bouncing": membership.bounce_state == Membership.BounceState.BOUNCING})


def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    """Activate a sign-up and log in, then go back to where the person was (``?next=``).

    Needs the mailbox (this link) and either the browser that signed up (a GET
    there does it at once: no mail scanner holds that session) or the password
    chosen at sign-up. The address's owner, following a stranger's sign-up link,
    can't activate it without the stranger's password; the page sends them to
    choose their own (password reset), which takes the account over
    (groups.web.signup).
    """
    try:
        parts = tokens.check(tokens.CONFIRM_EMAIL, token, expires=True)
        user = User.objects.get(pk=int(parts[0]))
    except (tokens.BadToken, ValueError, IndexError, User.DoesNotExist) as exc:
        return bad_link(request, exc if isinstance(exc, tokens.BadToken)
                        else _("this link names an account that no longer exists"))
    next_url = nextpage.from_request(request)
    if user.email_confirmed:
        if request.user.is_authenticated and request.user.pk == user.pk:
            return nextpage.arrive(request, next_url)
        return render(request, "groups/confirm_email.html", {"account": user, "form": None,
                                                             "next": next_url})
    if request.method != "POST" and signup.signed_up_here(request.session, user):
        return _activate_and_arrive(request, user, next_url)
    form = ConfirmEmailForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if not ratelimit.hit("confirm-account", str(user.pk), *ratelimit.CONFIRM_PER_ACCOUNT):
            form.is_valid()
            form.add_error(None, _("Too many attempts. Please wait a while, or choose a new "
                                   "password instead."))
            status = 429
        elif form.is_valid() and user.check_password(form.cleaned_data["password"]):
            return _activate_and_arrive(request, user, next_url)
        else:
            form.add_error("password", _("This is not the password chosen at sign-up. If you "
                                         "didn't sign up, or forgot it, choose a new password "
                                         "instead."))
            status = 400
    return render(request, "groups/confirm_email.html",
                  {"account": user, "form": form, "next": next_url}, status=status)


def _activate_and_arrive(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    signup.activate(user)
    signup.forget(request.session)
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    flash.success(request, _("Your email address is confirmed and you are logged in."))
    return nextpage.arrive(request, next_url, complete_join=True)


def moderate_link(request: HttpRequest, token: str) -> HttpResponse:
    """A moderator's emailed approve or reject link: the action is signed inside the token.

    The link expires (links.MODERATION_LINK_HOURS) and is one-use: once the held
    message is decided, it decides nothing more. Whoever holds the link without
    being logged in as one of the group's moderators may take the decision it
    names, but never sees the held message: a forwarded notice leaks no post.
    """
    try:
        parts = tokens.check(tokens.MODERATE_LINK, token, expires=True)
        held = HeldMessage.objects.select_related("group").get(pk=int(parts[0]))
        action = parts[1]
    except tokens.BadToken as exc:
        return bad_link(request, exc)
    except (ValueError, IndexError, HeldMessage.DoesNotExist):
        return bad_link(request, "this held message no longer exists")
    if action not in ("approve", "reject"):
        return bad_link(request, "the action must be approve or reject")
    from groups.web.access import membership_for

    membership = membership_for(held.group, request.user)
    is_moderator = bool(request.user.is_authenticated and (
        request.user.is_superuser or (membership is not None and membership.is_active
                                      and membership.is_moderator)))
    error = result = None
    if request.method == "POST" and held.state == HeldMessage.State.PENDING:
        who = request.user.email if is_moderator else "moderator (signed link)"
        try:
            result = MessageServerClient().moderate(held.pk, action, who,
                                                    request.POST.get("reason", "")[:2000])
        except MessageServerError as exc:
            error = exc.body.get("error", str(exc))
        except MessageServerUnavailable:
            error = _("The message server can't be reached right now; please try again shortly.")
        held.refresh_from_db()
    from groups.web.heldpreview import preview

    return render(request, "groups/moderate_link.html", {
        "held": held, "group": held.group, "action": action, "error": error,
        "result": result, "is_moderator": is_moderator,
        "preview": preview(held) if is_moderator else None},
        status=503 if error and "reach" in error else 200)


def confirm_delivery(request: HttpRequest, token: str) -> HttpResponse:
    """A delivery change asked for by mail that could not be authenticated: GET shows, POST does."""
    from messageserver.commands import confirmed_delivery

    try:
        membership = _membership(tokens.CONFIRM_DELIVERY, token, expires=True)
        mode = Membership.Delivery(tokens.check(tokens.CONFIRM_DELIVERY, token,
                                                expires=True)[1]).value
    except (tokens.BadToken, ValueError, IndexError) as exc:
        return bad_link(request, exc)
    done = False
    if request.method == "POST":
        with transaction.atomic():
            done = confirmed_delivery(membership, mode)
        membership.refresh_from_db()
    return render(request, "groups/confirm_delivery.html", {
        "membership": membership, "group": membership.group, "done": done,
        "label": Membership.Delivery(mode).label, "mode": mode})
