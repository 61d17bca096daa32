"""Posting from the web: a new topic or a reply, with attachments.

A web post goes to messageserver's POST /v1/posts, which runs exactly the
checks and fan-out an emailed post gets (policy, moderation, locked topics,
hashtags); this module only collects the form and shows the outcome.
"""

from __future__ import annotations

import base64

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from groups.models import Message
from groups.web import access
from groups.web.forms import PostForm
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable


def _poster(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.viewer(request, group_name)
    if not v.can_post:
        raise Http404("only members may post here")
    return v


def _submit(request: HttpRequest, v: access.Viewer, form: PostForm,
            reply_to: Message | None) -> HttpResponse | None:
    """Send the post; on success a redirect, on a refusal None with the form's error set."""
    files = form.cleaned_data["attachments"]
    attachments = [{"filename": f.name, "content_type": f.content_type or
                    "application/octet-stream",
                    "data_b64": base64.b64encode(f.read()).decode("ascii")} for f in files]
    try:
        result = MessageServerClient().post(
            v.group.name, v.membership.email, form.cleaned_data["subject"],
            form.cleaned_data["body"], reply_to_number=reply_to.number if reply_to else None,
            attachments=attachments)
    except MessageServerError as exc:
        fields = exc.body.get("fields") or {}
        form.add_error(None, exc.body.get("reason") or exc.body.get("error") or str(exc))
        for name, problem in fields.items():
            form.add_error(None, f"{name}: {problem}")
        return None
    except MessageServerUnavailable:
        form.add_error(None, _("The message server can't be reached right now. Your message "
                       "was not sent; please try again in a minute."))
        return None
    if result.get("outcome") == "held":
        flash.info(request, _("Your message is waiting for a moderator's approval."))
        return redirect("group_home", v.group.name)
    if result.get("outcome") == "accepted" and result.get("number"):
        flash.success(request, _("Your message was posted."))
        return redirect("message", v.group.name, result["number"])
    flash.info(request, result.get("reason") or "Your message was taken.")
    return redirect("group_home", v.group.name)


@login_required
def new_topic(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _poster(request, group_name)
    form = PostForm(request.POST or None, request.FILES or None, group=v.group)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            done = _submit(request, v, form, None)
            if done is not None:
                return done
        status = 400
    return render(request, "groups/post.html", {"v": v, "group": v.group, "form": form,
                                                "reply_to": None}, status=status)


@login_required
def reply(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    v = _poster(request, group_name)
    original = get_object_or_404(Message.objects.select_related("topic"), group=v.group,
                                 number=number, deleted=False)
    initial = {"subject": "Re: " + original.topic.subject}
    form = PostForm(request.POST or None, request.FILES or None, group=v.group, reply=True,
                    initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            done = _submit(request, v, form, original)
            if done is not None:
                return done
        status = 400
    return render(request, "groups/post.html", {"v": v, "group": v.group, "form": form,
                                                "reply_to": original}, status=status)
