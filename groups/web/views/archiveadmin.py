"""Archive management on the web, for a group's owners and moderators.

Rename, merge and split topics, move a message, lock or make sticky, delete
a message or a topic (groups.archiveedit and groups.deletion hold the rules
and keep counters, search and digests true), and download the archive as
mbox (importers.mbox.iter_mbox, streamed, the same entries as exportmbox).
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from groups import archiveedit, deletion
from groups.models import Message, Topic
from groups.web import access
from groups.web.archiveforms import (
    ArchiveDownloadForm,
    RenameTopicForm,
    SplitTopicForm,
    TopicChoiceForm,
)
from groups.web.pages import paginate
from importers.mbox import iter_mbox


def _topic_page(request: HttpRequest, v: access.Viewer, topic: Topic, *,
                rename: RenameTopicForm | None = None, merge: TopicChoiceForm | None = None,
                status: int = 200) -> HttpResponse:
    messages = Message.objects.filter(topic=topic, deleted=False).order_by("date", "number")
    return render(request, "groups/mod/topic_manage.html", {
        "v": v, "group": v.group, "topic": topic,
        "rename": rename or RenameTopicForm(initial={"subject": topic.subject}),
        "merge": merge or TopicChoiceForm(group=v.group, exclude=topic, prefix="merge",
                                          label=_("Merge into topic")),
        "page": paginate(request, messages, per_page=50)}, status=status)


@login_required
def topic_manage(request: HttpRequest, group_name: str, topic_id: int) -> HttpResponse:
    """One topic's management page: rename, merge, lock, stick, delete; its messages."""
    v = access.moderator(request, group_name)
    topic = get_object_or_404(Topic, group=v.group, pk=topic_id)
    if request.method != "POST":
        return _topic_page(request, v, topic)
    action = request.POST.get("action", "")
    if action == "rename":
        form = RenameTopicForm(request.POST)
        if not form.is_valid():
            return _topic_page(request, v, topic, rename=form, status=400)
        try:
            archiveedit.rename_topic(topic, form.cleaned_data["subject"],
                                     actor=request.user.email)
        except archiveedit.ArchiveEditError as exc:
            form.add_error("subject", str(exc))
            return _topic_page(request, v, topic, rename=form, status=400)
        flash.success(request, _("The topic's subject is changed."))
        return redirect("mod_topic_manage", v.group.name, topic.pk)
    if action == "merge":
        merge = TopicChoiceForm(request.POST, group=v.group, exclude=topic, prefix="merge",
                                label=_("Merge into topic"))
        if not merge.is_valid():
            return _topic_page(request, v, topic, merge=merge, status=400)
        target = merge.cleaned_data["target"]
        try:
            archiveedit.merge_topics(topic, target, actor=request.user.email)
        except archiveedit.ArchiveEditError as exc:
            merge.add_error("target", str(exc))
            return _topic_page(request, v, topic, merge=merge, status=400)
        flash.success(request, _("“%(topic)s” is merged into “%(target)s”.") % {
            "topic": topic.subject, "target": target.subject})
        return redirect("topic", v.group.name, target.pk)
    return _flag_or_delete(request, v, topic, action)


def _flag_or_delete(request: HttpRequest, v: access.Viewer, topic: Topic,
                    action: str) -> HttpResponse:
    flags = {"lock": {"locked": True}, "unlock": {"locked": False},
             "stick": {"sticky": True}, "unstick": {"sticky": False}}
    if action in flags:
        archiveedit.set_flags(topic, actor=request.user.email, **flags[action])
        flash.success(request, {"lock": _("Topic locked."), "unlock": _("Topic unlocked."),
                                "stick": _("Topic made sticky."),
                                "unstick": _("Topic no longer sticky.")}[action])
        back = "mod_topic_manage" if request.POST.get("next") == "manage" else "topic"
        return redirect(back, v.group.name, topic.pk)
    if action == "delete":
        deletion.delete_topic(topic, actor=request.user.email)
        flash.success(request, _("The topic and its messages are deleted."))
        return redirect("topics", v.group.name)
    flash.error(request, _("Unknown action."))
    return redirect("topic", v.group.name, topic.pk)


@login_required
@require_POST
def topic_action(request: HttpRequest, group_name: str, topic_id: int) -> HttpResponse:
    """The topic page's own buttons: lock, stick, delete."""
    v = access.moderator(request, group_name)
    topic = get_object_or_404(Topic, group=v.group, pk=topic_id)
    return _flag_or_delete(request, v, topic, request.POST.get("action", ""))


@login_required
def message_manage(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    """Move one message to another topic, or split its topic at it."""
    v = access.moderator(request, group_name)
    msg = get_object_or_404(Message.objects.select_related("topic"), group=v.group,
                            number=number, deleted=False)
    move = TopicChoiceForm(request.POST if request.POST.get("action") == "move" else None,
                           group=v.group, exclude=msg.topic, prefix="move",
                           label=_("Move to topic"))
    split = SplitTopicForm(request.POST if request.POST.get("action") == "split" else None,
                           prefix="split")
    status = 200
    if request.method == "POST":
        status = 400
        if move.is_bound and move.is_valid():
            target = move.cleaned_data["target"]
            try:
                archiveedit.move_message(msg, target, actor=request.user.email)
            except archiveedit.ArchiveEditError as exc:
                move.add_error("target", str(exc))
            else:
                flash.success(request, _("Message #%(number)s moved to “%(target)s”.") % {
                    "number": number, "target": target.subject})
                return redirect("topic", v.group.name, target.pk)
        elif split.is_bound and split.is_valid():
            try:
                new = archiveedit.split_topic(msg, split.cleaned_data["subject"],
                                              actor=request.user.email)
            except archiveedit.ArchiveEditError as exc:
                split.add_error("subject", str(exc))
            else:
                flash.success(request, _("A new topic “%(subject)s” starts at #%(number)s.") % {
                    "subject": new.subject, "number": number})
                return redirect("topic", v.group.name, new.pk)
        elif not (move.is_bound or split.is_bound):
            flash.error(request, _("Choose move or split."))
    return render(request, "groups/mod/message_manage.html", {
        "v": v, "group": v.group, "message": msg, "move": move, "split": split},
        status=status)


@login_required
@require_POST
def message_delete(request: HttpRequest, group_name: str, number: int) -> HttpResponse:
    """Hide one message from the archive; its topic goes too when nothing else is left."""
    v = access.moderator(request, group_name)
    msg = get_object_or_404(Message, group=v.group, number=number, deleted=False)
    if deletion.delete_message(msg, actor=request.user.email):
        flash.success(request, _("Message #%(number)s and its topic are deleted.") % {"number": number})
        return redirect("topics", v.group.name)
    flash.success(request, _("Message #%(number)s deleted.") % {"number": number})
    return redirect("topic", v.group.name, msg.topic_id)


@login_required
def download(request: HttpRequest, group_name: str) -> HttpResponse:
    """The archive (all of it, or a date range) as an mbox file, streamed."""
    v = access.moderator(request, group_name)
    form = ArchiveDownloadForm(request.GET or None)
    if request.GET.get("download") and form.is_valid():
        since, until = form.bounds()
        start, end = form.cleaned_data.get("date_from"), form.cleaned_data.get("date_to")
        name = v.group.name + (f"-from-{start}" if start else "") + (
            f"-to-{end}" if end else "") + ".mbox"
        response = StreamingHttpResponse(iter_mbox(v.group, since, until),
                                         content_type="application/mbox")
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response
    return render(request, "groups/mod/archive_download.html", {
        "v": v, "group": v.group, "form": form,
        "count": Message.objects.filter(group=v.group, deleted=False).count()},
        status=400 if form.is_bound and form.errors else 200)
