"""Files and photos: folders and uploads within the group's limits, downloads only for
readers, rename/move/delete; albums with Pillow thumbnails and GPS stripped on request,
pictures taken from messages; Instagram's new media into posts and an album — the Graph
API is unreachable from our machines, so a local HTTP server serves its documented
response shapes (/me/media, /refresh_access_token) to the real crawler."""

from __future__ import annotations

import io
import json
import os
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from cronjobs.instagram import crawl
from groups.models import (
    Album,
    Folder,
    Group,
    InstagramAccount,
    Message,
    Photo,
    StoredFile,
)


def jpeg(with_gps: bool = True, size=(1200, 800)) -> bytes:
    img = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if with_gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def gps_of(data: bytes) -> dict:
    return dict(Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825))


@pytest.mark.django_db
def test_folders_upload_download_rename_move_delete(group, clients,
                                                   django_capture_on_commit_callbacks):
    url = reverse("files", args=["hikers"])
    assert clients["bob"].post(url, {"do": "folder", "name": "Maps"}).status_code == 302
    maps = Folder.objects.get(name="Maps")
    up = clients["bob"].post(url, {"do": "upload", "description": "The route",
                                   "files": [SimpleUploadedFile("route.gpx", b"<gpx/>",
                                                                "application/gpx+xml")]})
    assert up.status_code == 302
    row = StoredFile.objects.get()
    got = clients["anon"].get(reverse("file_download", args=["hikers", row.pk, row.name]))
    assert b"".join(got.streaming_content) == b"<gpx/>"
    assert got["Content-Disposition"].startswith("attachment")
    Group.objects.filter(pk=group.pk).update(max_attachment_size=1024)
    big = clients["bob"].post(url, {"do": "upload", "files": [
        SimpleUploadedFile("big.bin", b"x" * 5000, "application/octet-stream")]})
    assert big.status_code == 400 and "this group takes files up to 1 KB" in big.content.decode()
    manage = reverse("file_manage", args=["hikers", row.pk])
    assert clients["charlie"].post(manage, {"do": "delete"}).status_code == 404
    clients["bob"].post(manage, {"do": "rename", "name": "ridge.gpx"})
    clients["bob"].post(manage, {"do": "move", "folder": maps.pk})
    row.refresh_from_db()
    assert (row.name, row.folder) == ("ridge.gpx", maps)
    path = row.data.path
    with django_capture_on_commit_callbacks(execute=True):  # the bytes go after the commit
        clients["mona"].post(manage, {"do": "delete"})  # a moderator may
    assert not StoredFile.objects.exists()
    assert not os.path.exists(path)
    assert clients["charlie"].post(url, {"do": "folder", "name": "X"}).status_code == 404


@pytest.mark.django_db
def test_private_groups_files_and_photos_stay_private(group, clients, people):
    Group.objects.filter(pk=group.pk).update(privacy=Group.Privacy.PRIVATE_ARCHIVE)
    clients["bob"].post(reverse("files", args=["hikers"]), {"do": "upload", "files": [
        SimpleUploadedFile("secret.txt", b"plans", "text/plain")]})
    album = Album.objects.create(group=group, title="Trip")
    from groups.photos import add_photo
    photo = add_photo(album, jpeg(), caption="", strip_location=True, user=people["bob"])
    row = StoredFile.objects.get()
    for url in (reverse("files", args=["hikers"]),
                reverse("file_download", args=["hikers", row.pk, row.name]),
                reverse("photos", args=["hikers"]), reverse("album", args=["hikers", album.pk]),
                reverse("photo_file", args=["hikers", photo.pk, "full"])):
        for who in ("anon", "charlie"):
            assert clients[who].get(url).status_code in (302, 404), (who, url)
        assert clients["bob"].get(url).status_code == 200, url


@pytest.mark.django_db
def test_albums_thumbnails_and_location(group, clients):
    clients["bob"].post(reverse("photos", args=["hikers"]), {"title": "Summer walks"})
    album = Album.objects.get()
    url = reverse("album", args=["hikers", album.pk])
    clients["bob"].post(url, {"do": "upload", "strip_location": "on", "caption": "Ridge",
                              "images": [SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")]})
    clients["bob"].post(url, {"do": "upload", "images": [
        SimpleUploadedFile("b.jpg", jpeg(), "image/jpeg")]})
    stripped, kept = Photo.objects.order_by("pk")
    assert gps_of(stripped.image.read()) == {} and gps_of(kept.image.read())
    assert Image.open(stripped.image.open()).getexif()[0x010F] == "TestCam"  # the rest stays
    thumb = Image.open(stripped.thumbnail.open())
    assert max(thumb.size) <= 360 and (stripped.width, stripped.height) == (1200, 800)
    bad = clients["bob"].post(url, {"do": "upload", "images": [
        SimpleUploadedFile("x.jpg", b"not a picture", "image/jpeg")]})
    assert bad.status_code == 400 and "not a picture" in bad.content.decode()
    page = clients["anon"].get(url).content.decode()
    assert page.count('<img src="/g/hikers/photos/photo/') == 2


@pytest.mark.django_db(transaction=True)
def test_pictures_from_a_message(messageserver, group, clients, settings, tmp_path):
    settings.ATTACHMENTS_DIR = tmp_path / "att"
    clients["bob"].post(reverse("new_topic", args=["hikers"]), {
        "subject": "Photos!", "body": "From the top.",
        "attachments": [SimpleUploadedFile("top.jpg", jpeg(), "image/jpeg")]})
    album = Album.objects.create(group=group, title="From posts")
    page = clients["bob"].get(reverse("album", args=["hikers", album.pk])).content.decode()
    assert "top.jpg — Photos!" in page
    from groups.models import Attachment
    att = Attachment.objects.get(filename="top.jpg")
    clients["bob"].post(reverse("album", args=["hikers", album.pk]),
                        {"do": "from_messages", "attachment": [att.pk]})
    photo = Photo.objects.get()
    assert photo.source_attachment == att and gps_of(photo.image.read()) == {}


class GraphAPI:
    """A local stand-in for graph.instagram.com serving the documented shapes."""

    def __init__(self):
        self.media: list[dict] = []
        self.refreshed = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/me/media":
                    if query.get("access_token") != ["good-token"]:
                        return self._json(400, {"error": {
                            "message": "Invalid OAuth access token.",
                            "type": "OAuthException", "code": 190}})
                    assert "media_url" in query["fields"][0]
                    return self._json(200, {"data": api.media, "paging": {"cursors": {}}})
                if parts.path == "/refresh_access_token":
                    api.refreshed += 1
                    return self._json(200, {"access_token": "good-token",
                                            "token_type": "bearer", "expires_in": 5183944})
                if parts.path.startswith("/cdn/"):
                    body = jpeg(size=(640, 640))
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    self.wfile.write(body)
                    return None
                return self._json(404, {"error": {"message": "unknown path"}})

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def item(self, media_id: str, caption: str, minutes_ago: int) -> dict:
        at = (timezone.now() - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S+0000")
        return {"id": media_id, "caption": caption, "media_type": "IMAGE",
                "media_url": f"{self.url}/cdn/{media_id}.jpg",
                "permalink": f"https://www.instagram.com/p/{media_id}/", "timestamp": at}


@pytest.mark.django_db(transaction=True)
def test_instagram_media_become_posts_and_photos(messageserver, group, clients, monkeypatch,
                                                 settings, tmp_path):
    settings.ATTACHMENTS_DIR = tmp_path / "att"
    graph = GraphAPI()
    monkeypatch.setenv("INSTAGRAM_GRAPH_URL", graph.url)
    monkeypatch.setenv("FEED_ALLOW_PRIVATE", "true")
    page = clients["alice"].post(reverse("mod_instagram", args=["hikers"]), {
        "do": "connect", "access_token": "old-token", "album_title": "Instagram",
        "poster_email": "alice@example.org"})
    assert page.status_code == 302
    account = InstagramAccount.objects.get()
    InstagramAccount.objects.filter(pk=account.pk).update(
        token_refreshed_at=timezone.now() - timedelta(days=40))  # due for a refresh
    graph.media = [graph.item("1002", "Second walk #hills", 5),
                   graph.item("1001", "First walk", 60)]
    assert crawl(timezone.now()) == "1 Instagram accounts polled, 2 posted, 0 failed"
    assert graph.refreshed == 1
    subjects = list(Message.objects.order_by("number").values_list("subject", flat=True))
    assert subjects == ["First walk", "Second walk #hills"]  # oldest first
    assert set(Photo.objects.values_list("instagram_id", flat=True)) == {"1001", "1002"}
    assert crawl(timezone.now()) == "1 Instagram accounts polled, 0 posted, 0 failed"
    InstagramAccount.objects.update(access_token="revoked")
    assert "1 failed" in crawl(timezone.now())
    assert "Invalid OAuth access token" in InstagramAccount.objects.get().last_error
    graph.server.shutdown()
