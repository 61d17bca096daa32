"""A group's Files on the website: folders, upload (within the group's attachment limits),
download, rename, move, delete, and telling the group about new files.

Who sees them is who reads the archive; who adds them is ``files_added_by``; a file is
changed by whoever added it or a moderator. The bytes live in the ``groupfiles`` storage
(settings.STORAGES): on disk by default, an S3-compatible store by configuration.
"""

from __future__ import annotations

import mimetypes

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups import activitylog, links
from groups.models import Folder, Group, StoredFile
from groups.web import access
from groups.web.forms import MultipleFileField
from groups.web.groupforms import format_size
from messageserver.client import MessageServerClient, MessageServerError, MessageServerUnavailable


def _reader(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.reader(request, group_name)
    if not v.group.files_enabled:
        raise Http404("this group has no files")
    return v


def may_add(v: access.Viewer) -> bool:
    if v.group.files_added_by == "moderators":
        return v.is_moderator
    return v.is_member or v.is_site_admin


def allowed_type(group: Group, content_type: str) -> bool:
    allowed = [t.strip() for t in group.allowed_attachment_types.split(",") if t.strip()]
    return not allowed or any(content_type == t or (t.endswith("/") and content_type
                                                    .startswith(t)) for t in allowed)


class UploadForm(forms.Form):
    files = MultipleFileField(label=gettext_lazy("Files to add"))
    description = forms.CharField(required=False, max_length=500,
                                  label=gettext_lazy("Description"))
    announce = forms.BooleanField(required=False,
                                  label=gettext_lazy("Tell the group about the new files"))

    def __init__(self, *args, group: Group, **kwargs):  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_files(self) -> list:
        files = self.cleaned_data["files"]
        for f in files:
            if f.size > self.group.max_attachment_size:
                raise forms.ValidationError(
                    _("“%(name)s” is %(size)s; this group takes files up to %(limit)s.")
                    % {"name": f.name, "size": format_size(f.size),
                       "limit": format_size(self.group.max_attachment_size)})
            kind = f.content_type or mimetypes.guess_type(f.name)[0] or ""
            if not allowed_type(self.group, kind):
                raise forms.ValidationError(_("“%(name)s” is a type this group doesn't take "
                                              "(%(kind)s).") % {"name": f.name, "kind": kind})
        return files


class FolderForm(forms.Form):
    name = forms.CharField(max_length=200, label=gettext_lazy("New folder"))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if "/" in name or name in (".", ".."):
            raise forms.ValidationError(_("A folder name can't contain /."))
        return name


def _folder(v: access.Viewer, folder_id: int | None) -> Folder | None:
    if folder_id is None:
        return None
    return get_object_or_404(Folder, group=v.group, pk=folder_id)


def _trail(folder: Folder | None) -> list[Folder]:
    trail = []
    while folder is not None:
        trail.insert(0, folder)
        folder = folder.parent
    return trail


def _here(v: access.Viewer, folder: Folder | None) -> str:
    if folder is None:
        return reverse("files", args=[v.group.name])
    return reverse("files_folder", args=[v.group.name, folder.pk])


def file_list(request: HttpRequest, group_name: str, folder_id: int | None = None
              ) -> HttpResponse:
    v = _reader(request, group_name)
    folder = _folder(v, folder_id)
    upload = UploadForm(group=v.group)
    new_folder = FolderForm()
    status = 200
    if request.method == "POST":
        if not request.user.is_authenticated or not may_add(v):
            raise Http404("you may not add files here")
        if request.POST.get("do") == "folder":
            new_folder = FolderForm(request.POST)
            if new_folder.is_valid():
                try:
                    with transaction.atomic():
                        Folder.objects.create(group=v.group, parent=folder,
                                              name=new_folder.cleaned_data["name"])
                        activitylog.record(v.group, actor=request.user.email,
                                           verb="folder_added",
                                           target=new_folder.cleaned_data["name"])
                    return redirect(_here(v, folder))
                except IntegrityError:
                    new_folder.add_error("name", _("A folder of that name is here already."))
        else:
            upload = UploadForm(request.POST, request.FILES, group=v.group)
            if upload.is_valid():
                added = _store(request, v, folder, upload)
                flash.success(request, _("%(n)s file(s) added.") % {"n": len(added)})
                if upload.cleaned_data["announce"]:
                    _announce(request, v, added)
                return redirect(_here(v, folder))
        status = 400
    return render(request, "groups/files.html", {
        "v": v, "group": v.group, "folder": folder, "trail": _trail(folder),
        "folders": Folder.objects.filter(group=v.group, parent=folder),
        "files": StoredFile.objects.filter(group=v.group, folder=folder)
        .select_related("uploaded_by"),
        "upload": upload, "new_folder": new_folder, "may_add": request.user.is_authenticated
        and may_add(v)}, status=status)


def _store(request: HttpRequest, v: access.Viewer, folder: Folder | None,
           upload: UploadForm) -> list[StoredFile]:
    added = []
    for f in upload.cleaned_data["files"]:
        name = get_valid_filename(f.name) or "file"
        row = StoredFile(group=v.group, folder=folder, name=f.name[:255], size=f.size,
                         content_type=f.content_type or mimetypes.guess_type(f.name)[0] or "",
                         description=upload.cleaned_data["description"],
                         uploaded_by=request.user)
        row.data.save(name, f, save=False)
        with transaction.atomic():
            row.save()
            activitylog.record(v.group, actor=request.user.email, verb="file_added",
                               target=row.name)
        added.append(row)
    return added


def _announce(request: HttpRequest, v: access.Viewer, added: list[StoredFile]) -> None:
    lines = [_("New in the group's files:"), ""]
    for row in added:
        lines.append(f"- {row.name} ({format_size(row.size)}): {links.absolute(file_url(row))}")
    subject = (_("New file: %(name)s") % {"name": added[0].name} if len(added) == 1
               else _("%(n)s new files") % {"n": len(added)})
    try:
        MessageServerClient().post(v.group.name, v.membership.email, subject,
                                   "\n".join(lines) + "\n")
    except (MessageServerError, MessageServerUnavailable) as exc:
        flash.error(request, _("The files are added, but the group could not be told: "
                               "%(reason)s") % {"reason": getattr(exc, "body", {}).get(
                                   "reason") if hasattr(exc, "body") else exc})


def file_url(row: StoredFile) -> str:
    return reverse("file_download", urlconf=links.WEB, args=[row.group.name, row.pk, row.name])


def download(request: HttpRequest, group_name: str, file_id: int, filename: str = ""
             ) -> FileResponse:
    v = _reader(request, group_name)
    row = get_object_or_404(StoredFile, group=v.group, pk=file_id)
    response = FileResponse(row.data.open("rb"), as_attachment=True, filename=row.name,
                            content_type="application/octet-stream")
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
def file_manage(request: HttpRequest, group_name: str, file_id: int) -> HttpResponse:
    """Rename, move or delete a file: its uploader or a moderator."""
    v = _reader(request, group_name)
    row = get_object_or_404(StoredFile.objects.select_related("folder"), group=v.group,
                            pk=file_id)
    if not (v.is_moderator or (v.is_member and row.uploaded_by_id == request.user.pk)):
        raise Http404("only who added it or a moderator changes a file")
    folders = Folder.objects.filter(group=v.group)
    if request.method == "POST":
        do = request.POST.get("do")
        back = _here(v, row.folder)
        with transaction.atomic():
            if do == "delete":
                row.delete()
                activitylog.record(v.group, actor=request.user.email, verb="file_removed",
                                   target=row.name)
                transaction.on_commit(lambda: row.data.storage.delete(row.data.name))
                flash.success(request, _("“%(name)s” is deleted.") % {"name": row.name})
                return redirect(back)
            if do == "rename":
                name = request.POST.get("name", "").strip()
                if not name or "/" in name or len(name) > 255:
                    flash.error(request, _("Give a name without /, up to 255 characters."))
                else:
                    activitylog.record(v.group, actor=request.user.email, verb="file_renamed",
                                       target=name, detail={"name": [row.name, name]})
                    StoredFile.objects.filter(pk=row.pk).update(name=name)
                    flash.success(request, _("Renamed."))
            if do == "move":
                target = request.POST.get("folder", "")
                to = folders.filter(pk=target).first() if target else None
                if target and to is None:
                    flash.error(request, _("No such folder."))
                else:
                    StoredFile.objects.filter(pk=row.pk).update(folder=to)
                    flash.success(request, _("Moved."))
        return redirect("file_manage", v.group.name, row.pk)
    return render(request, "groups/file_manage.html", {"v": v, "group": v.group, "file": row,
                                                       "folders": folders})
