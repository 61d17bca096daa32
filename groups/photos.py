"""Photos: images checked and thumbnailed with Pillow, their location stripped on request.

An upload is opened with Pillow (anything it can't read as an image is refused), the
thumbnail made from the upright picture (EXIF orientation applied), and, when asked,
the GPS block removed from the EXIF the picture keeps (JPEG and the like are saved again
without it; the rest of the EXIF — camera, date — stays).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from groups import activitylog
from groups.models import Album, Attachment, Photo

THUMB_SIZE = (360, 360)
GPS_IFD = 0x8825
FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"),
           "GIF": ("gif", "image/gif"), "WEBP": ("webp", "image/webp")}
MAX_PIXELS = 80_000_000  # a decompression bomb is refused, not decoded


class NotAnImage(ValueError):
    """What was uploaded isn't a picture we take; the message says why."""


@dataclass(frozen=True)
class Processed:
    image: bytes
    thumbnail: bytes
    width: int
    height: int
    extension: str
    content_type: str
    had_location: bool


def has_location(img: Image.Image) -> bool:
    return bool(img.getexif().get_ifd(GPS_IFD))


def process(data: bytes, *, strip_location: bool) -> Processed:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        img.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise NotAnImage(_("not a picture this site can read (%(kind)s)")
                          % {"kind": exc.__class__.__name__}) from None
    if img.format not in FORMATS:
        raise NotAnImage(_("%(kind)s pictures aren't taken; use JPEG, PNG, GIF or WebP")
                         % {"kind": img.format})
    extension, content_type = FORMATS[img.format]
    located = has_location(img)
    out = data
    if strip_location and located:
        exif = img.getexif()
        del exif[GPS_IFD]
        buffer = io.BytesIO()
        options = {"exif": exif.tobytes()}
        if img.format == "JPEG":
            options.update(quality=95, subsampling="keep")
        img.save(buffer, format=img.format, **options)
        out = buffer.getvalue()
    upright = ImageOps.exif_transpose(img)
    thumb = upright.copy()
    thumb.thumbnail(THUMB_SIZE)
    if thumb.mode not in ("RGB", "L"):
        thumb = thumb.convert("RGB")
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return Processed(out, buffer.getvalue(), upright.width, upright.height, extension,
                     content_type, located)


def add_photo(album: Album, data: bytes, *, caption: str, strip_location: bool, user,  # noqa: ANN001
              source: Attachment | None = None, instagram_id: str = "") -> Photo:
    """Store one picture in ``album`` (photos.NotAnImage when it isn't one)."""
    done = process(data, strip_location=strip_location)
    stem = uuid.uuid4().hex[:12]
    photo = Photo(album=album, width=done.width, height=done.height, caption=caption,
                  uploaded_by=user, source_attachment=source, instagram_id=instagram_id)
    photo.image.save(f"{stem}.{done.extension}", ContentFile(done.image), save=False)
    photo.thumbnail.save(f"{stem}-thumb.jpg", ContentFile(done.thumbnail), save=False)
    with transaction.atomic():
        photo.save()
        activitylog.record(album.group, actor=getattr(user, "email", "") or "instagram",
                           verb="photo_added", target=album.title)
    return photo
