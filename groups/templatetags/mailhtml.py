"""Template filters for archived HTML mail."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from messageserver.remoteimages import block_remote_images

register = template.Library()


@register.filter
def without_remote_images(sanitised_html: str) -> SafeString:
    """Remote images out of HTML archived before they were removed at archive time.

    The input is already nh3-sanitised (Message.body_html); this only swaps
    remote ``<img>`` tags for links, so the result stays safe to show.
    """
    return mark_safe(block_remote_images(sanitised_html or ""))  # noqa: S308
