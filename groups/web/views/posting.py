"""Posting from the web: a new topic or a reply, with attachments; editing one's own post.

A web post goes to messageserver's POST /v1/posts, which runs exactly the
checks and fan-out an emailed post gets (policy, moderation, locked topics,
hashtags) and renders Markdown into the mail's HTML part; an edit goes to
POST /v1/edits, where messageserver.edits holds the rule of who may edit
until when. This module only collects the forms, shows the preview and the
outcome. The preview is rendered here with the very functions messageserver
uses (platformcore.markdown, then the archive's sanitiser), so what a member
previews is what the archive shows.
"""

from __future__ import annotations

import base64

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups.models import Message
from groups.web import access
from groups.web.forms import MessageTextForm, PostForm
from messageserver import edits
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable
from messageserver.mailparse import sanitize_html
from platformcore import markdown

UNREACHABLE = gettext_lazy("The message server can't be reached right now. Your message was "
                           "not sent; please try again in a minute.")


def _poster(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.viewer(request, group_name)
    if not v.can_post:
        raise Http404("only members may post here")
    return v


def preview_html(form: MessageTextForm, images: dict[str, str] | None = None) -> SafeString:
    """The form's text as the archive will show it (Markdown rendered, or plain text)."""
    body = form.cleaned_data.get("body") or ""
    if form.cleaned_data.get("text_format") != "markdown":
        return format_html('<pre class="body">{}</pre>', body)
    fragment = markdown.replace_image_sources(markdown.render(body), images or {})
    return mark_safe(sanitize_html(fragment))  # noqa: S308 - the archive's one sanitiser


def _refused(form, exc: MessageServerError) -> None:
    fields = exc.body.get("fields") or {}
    form.add_error(None, exc.body.get("reason") or exc.body.get("error") or str(exc))
    for name, problem in fields.items():
        form.add_error(None, f"{name}: {problem}")


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
            attachments=attachments, text_format=form.cleaned_data["text_format"])
    except MessageServerError as exc:
        _refused(form, exc)
        return None
    except MessageServerUnavailable:
        form.add_error(None, UNREACHABLE)
        return None
    if result.get("outcome") == "held":
        flash.info(request, _("Your message is waiting for a moderator's approval."))
        return redirect("group_home", v.group.name)
    if result.get("outcome") == "accepted" and result.get("number"):
        flash.success(request, _("Your message was posted."))
        return redirect("message", v.group.name, result["number"])
    flash.info(request, result.get("reason") or _("Your message was taken."))
    return redirect("group_home", v.group.name)


def _post_page(request: HttpRequest, v: access.Viewer, form: PostForm,
               reply_to: Message | None) -> HttpResponse:
    status, preview = 200, None
    if request.method == "POST":
        if form.is_valid():
            if form.previewing:
                preview = preview_html(form)
            else:
                done = _submit(request, v, form, reply_to)
                if done is not None:
                    return done
                status = 400
        else:
            status = 400
    return render(request, "groups/post.html", {"v": v, "group": v.group, "form": form,
                                                "reply_to": reply_to, "preview": preview},
                  status=status)


@login_required
def new_topic(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _poster(request, group_name)
    form = PostForm(request.POST or None, request.FILES or None, group=v.group)
    return _post_page(request, v, form, None)


@login_required
def reply(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    v = _poster(request, group_name)
    original = get_object_or_404(Message.objects.select_related("topic"), group=v.group,
                                 number=number, deleted=False)
    initial = {"subject": "Re: " + original.topic.subject}
    form = PostForm(request.POST or None, request.FILES or None, group=v.group, reply=True,
                    initial=initial)
    return _post_page(request, v, form, original)


def _own_message(request: HttpRequest, group_name: str, number: int
                 ) -> tuple[access.Viewer, Message]:
    """The viewer's own message (anyone else's, or none, is a 404 as if not there)."""
    v = access.viewer(request, group_name)
    message = get_object_or_404(
        Message.objects.select_related("group", "topic", "membership").prefetch_related(
            "attachments"), group=v.group, number=number, deleted=False)
    if not edits.is_author(message, v.membership):
        raise Http404("only the author edits a message")
    return v, message


def _archive_images(message: Message) -> dict[str, str]:
    """The message's inline pictures by file name (as the Markdown names them) → their URL."""
    out = {}
    for att in message.attachments.all():
        url = reverse("attachment", args=[message.group.name, att.pk, att.filename])
        out[att.filename] = out[f"cid:{att.filename}"] = url
    return out


@login_required
def edit(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    """The author's edit of their post, within the group's edit window."""
    v, message = _own_message(request, group_name, number)
    why = edits.refusal(message, v.membership, timezone.now())
    if why:
        return render(request, "groups/edit.html", {"v": v, "group": v.group,
                                                    "message": message, "refusal": why},
                      status=403)
    initial = {"subject": message.subject, "body": message.body_text,
               "text_format": "markdown" if message.markdown else "plain"}
    form = MessageTextForm(request.POST or None, initial=initial)
    status, preview = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            if "preview" in request.POST:
                status, preview = 200, preview_html(form, _archive_images(message))
            else:
                try:
                    result = MessageServerClient().edit(
                        v.group.name, message.number, v.membership.email,
                        form.cleaned_data["subject"], form.cleaned_data["body"],
                        text_format=form.cleaned_data["text_format"])
                except MessageServerError as exc:
                    _refused(form, exc)
                except MessageServerUnavailable:
                    form.add_error(None, _("The message server can't be reached right now. "
                                           "Your changes were not saved; please try again "
                                           "in a minute."))
                else:
                    if result.get("correction_recipients"):
                        flash.success(request, _("Your message was edited, and the new "
                                                 "version sent to the members who get each "
                                                 "message by email."))
                    else:
                        flash.success(request, _("Your message was edited."))
                    return redirect("message", v.group.name, message.number)
    return render(request, "groups/edit.html", {
        "v": v, "group": v.group, "message": message, "form": form, "preview": preview,
        "deadline": edits.deadline(message, v.group)}, status=status)
