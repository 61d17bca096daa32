"""Template filters for archived HTML mail."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from groups.models import Message
from messageserver.remoteimages import block_remote_images
from platformcore.markdown import replace_image_sources

register = template.Library()


@register.filter
def without_remote_images(sanitised_html: str) -> SafeString:
    """Remote images out of HTML archived before they were removed at archive time.

    The input is already nh3-sanitised (Message.body_html); this only swaps
    remote ``<img>`` tags for links, so the result stays safe to show.
    """
    return mark_safe(block_remote_images(sanitised_html or ""))  # noqa: S308


@register.filter
def archived_html(sanitised_html: str, message: Message) -> SafeString:
    """A message's (or an earlier version's) sanitised HTML as the archive shows it.

    Inline pictures (``cid:``, kept by the sanitiser for this) point at the
    stored attachment of that Content-ID; remote images become links. The
    result is still only the sanitiser's markup with other addresses.
    """
    images = {f"cid:{att.content_id}": reverse("attachment", args=[
        message.group.name, att.pk, att.filename]) for att in message.attachments.all()
        if att.content_id}
    html = replace_image_sources(sanitised_html or "", images)
    return mark_safe(block_remote_images(html))  # noqa: S308
