"""A group's photo albums on the website: albums, uploads (thumbnails, location removed on
request), pictures taken from the group's messages, and each picture's page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from groups import activitylog, photos
from groups.models import Album, Attachment, Photo
from groups.photos import add_photo
from groups.web import access
from groups.web.forms import MultipleFileField
from groups.web.groupforms import format_size
from groups.web.views.files import may_add


def _reader(request: HttpRequest, group_name: str) -> access.Viewer:
    v = access.reader(request, group_name)
    if not v.group.photos_enabled:
        raise Http404("this group has no photos")
    return v


class AlbumForm(forms.Form):
    title = forms.CharField(max_length=200, label=gettext_lazy("Album title"))
    description = forms.CharField(required=False, label=gettext_lazy("Description"),
                                  widget=forms.Textarea(attrs={"rows": 3}))


class PhotoForm(forms.Form):
    images = MultipleFileField(label=gettext_lazy("Pictures to add"))
    caption = forms.CharField(required=False, max_length=500, label=gettext_lazy("Caption"))
    strip_location = forms.BooleanField(
        required=False, initial=True,
        label=gettext_lazy("Remove the location (GPS) from the pictures"))


def albums(request: HttpRequest, group_name: str) -> HttpResponse:
    v = _reader(request, group_name)
    form = AlbumForm(request.POST or None)
    if request.method == "POST":
        if not request.user.is_authenticated or not may_add(v):
            raise Http404("you may not add albums here")
        if form.is_valid():
            with transaction.atomic():
                album = Album.objects.create(group=v.group, created_by=request.user,
                                             **form.cleaned_data)
                activitylog.record(v.group, actor=request.user.email, verb="album_added",
                                   target=album.title)
            return redirect("album", v.group.name, album.pk)
    rows = Album.objects.filter(group=v.group).prefetch_related("photos")
    return render(request, "groups/albums.html", {
        "v": v, "group": v.group, "albums": rows, "form": form,
        "may_add": request.user.is_authenticated and may_add(v)},
        status=400 if form.is_bound and form.errors else 200)


def _image_attachments(v: access.Viewer):  # noqa: ANN202
    """Pictures sent to the group (the newest 30 are offered; any of them may be picked)."""
    return (Attachment.objects.filter(message__group=v.group, message__deleted=False,
                                      content_type__startswith="image/")
            .select_related("message").order_by("-message__date"))


def album(request: HttpRequest, group_name: str, album_id: int) -> HttpResponse:
    v = _reader(request, group_name)
    the_album = get_object_or_404(Album, group=v.group, pk=album_id)
    form = PhotoForm()
    status = 200
    allowed = request.user.is_authenticated and may_add(v)
    if request.method == "POST":
        if not allowed:
            raise Http404("you may not add photos here")
        if request.POST.get("do") == "from_messages":
            picked = _image_attachments(v).filter(pk__in=[
                i for i in request.POST.getlist("attachment") if i.isdigit()])
            added = 0
            for att in picked:
                try:
                    data = (settings.ATTACHMENTS_DIR / att.path).read_bytes()
                    add_photo(the_album, data, caption=att.filename, strip_location=True,
                              user=request.user, source=att)
                    added += 1
                except (OSError, photos.NotAnImage) as exc:
                    flash.error(request, f"{att.filename}: {exc}")
            flash.success(request, _("%(n)s picture(s) added.") % {"n": added})
            return redirect("album", v.group.name, the_album.pk)
        form = PhotoForm(request.POST, request.FILES)
        if form.is_valid():
            added = 0
            for f in form.cleaned_data["images"]:
                if f.size > v.group.max_attachment_size:
                    form.add_error("images", _("“%(name)s” is %(size)s; this group takes files "
                                               "up to %(limit)s.") % {
                        "name": f.name, "size": format_size(f.size),
                        "limit": format_size(v.group.max_attachment_size)})
                    continue
                try:
                    add_photo(the_album, f.read(), caption=form.cleaned_data["caption"],
                              strip_location=form.cleaned_data["strip_location"],
                              user=request.user)
                    added += 1
                except photos.NotAnImage as exc:
                    form.add_error("images", f"{f.name}: {exc}")
            if not form.errors:
                flash.success(request, _("%(n)s picture(s) added.") % {"n": added})
                return redirect("album", v.group.name, the_album.pk)
        status = 400
    return render(request, "groups/album.html", {
        "v": v, "group": v.group, "album": the_album, "photos": the_album.photos.all(),
        "form": form, "may_add": allowed,
        "attachments": _image_attachments(v)[:30] if allowed else []}, status=status)


def photo_page(request: HttpRequest, group_name: str, photo_id: int) -> HttpResponse:
    v = _reader(request, group_name)
    photo = get_object_or_404(Photo.objects.select_related("album"), album__group=v.group,
                              pk=photo_id)
    return render(request, "groups/photo.html", {"v": v, "group": v.group, "photo": photo})


def photo_file(request: HttpRequest, group_name: str, photo_id: int, size: str
               ) -> FileResponse:
    """The picture or its thumbnail, to readers of the group only."""
    v = _reader(request, group_name)
    photo = get_object_or_404(Photo, album__group=v.group, pk=photo_id)
    field = photo.thumbnail if size == "thumb" else photo.image
    name = field.name.rsplit("/", 1)[-1]
    kind = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif",
            "webp": "image/webp"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")
    response = FileResponse(field.open("rb"), content_type=kind)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


class InstagramForm(forms.Form):
    access_token = forms.CharField(
        label=gettext_lazy("Long-lived access token"), widget=forms.PasswordInput,
        help_text=gettext_lazy("From your Instagram professional account's app (Instagram "
                               "Graph API); it is refreshed before it expires."))
    album_title = forms.CharField(max_length=200, initial="Instagram",
                                  label=gettext_lazy("Album for its pictures"))
    poster_email = forms.ChoiceField(label=gettext_lazy("Post as"))

    def __init__(self, *args, group, **kwargs):  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        from groups.models import Membership

        self.fields["poster_email"].choices = [
            (m.email, m.email) for m in Membership.objects.filter(
                group=group, status=Membership.Status.ACTIVE,
                role__in=[Membership.Role.OWNER, Membership.Role.MODERATOR]).order_by("email")]


@login_required
def instagram_admin(request: HttpRequest, group_name: str) -> HttpResponse:
    """Owners connect an Instagram account; its new media become posts and photos."""
    from django.utils import timezone

    from cronjobs.instagram import crawl
    from groups.models import InstagramAccount

    v = access.owner(request, group_name)
    form = InstagramForm(request.POST or None, group=v.group)
    accounts = InstagramAccount.objects.filter(group=v.group).select_related("album")
    if request.method == "POST":
        do = request.POST.get("do")
        if do == "disconnect":
            accounts.filter(pk=request.POST.get("id")).delete()
            flash.success(request, _("The Instagram account is disconnected."))
            return redirect("mod_instagram", v.group.name)
        if do == "check":
            flash.info(request, crawl(timezone.now()))
            return redirect("mod_instagram", v.group.name)
        if form.is_valid():
            with transaction.atomic():
                the_album, _new = Album.objects.get_or_create(
                    group=v.group, title=form.cleaned_data["album_title"],
                    defaults={"created_by": request.user})
                InstagramAccount.objects.create(
                    group=v.group, album=the_album,
                    access_token=form.cleaned_data["access_token"],
                    poster_email=form.cleaned_data["poster_email"])
            flash.success(request, _("Connected: new pictures are checked every 15 minutes."))
            return redirect("mod_instagram", v.group.name)
    return render(request, "groups/mod/instagram.html", {
        "v": v, "group": v.group, "form": form, "accounts": accounts},
        status=400 if form.is_bound and form.errors else 200)
