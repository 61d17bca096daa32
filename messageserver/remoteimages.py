"""Remote images out of archived HTML: a tracking pixel must not see who reads the archive.

An ``<img>`` whose source is on another server (http:, https: or a
protocol-relative ``//host``) would make every archive reader's browser fetch
it, telling the sender who read the mail and when. Each is replaced by a
link saying "remote image removed", so a reader who wants it can still
follow it on purpose. Inline images (cid:) never reach here: the sanitiser
drops their scheme and the archive lists them as attachments.

Runs on the sanitiser's (nh3) output, whose markup is regular (attributes
double-quoted and escaped), which is why a pattern is enough here.
"""

from __future__ import annotations

import re

_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r'\bsrc="([^"]*)"', re.IGNORECASE)
_ALT = re.compile(r'\balt="([^"]*)"', re.IGNORECASE)
_REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def _placeholder(tag: re.Match[str]) -> str:
    src = _SRC.search(tag.group(0))
    if src is None or not _REMOTE.match(src.group(1)):
        return tag.group(0)
    alt = _ALT.search(tag.group(0))
    label = f": {alt.group(1)}" if alt and alt.group(1).strip() else ""
    return (f'<a class="remote-image" href="{src.group(1)}" rel="noopener noreferrer nofollow">'
            f"[remote image removed{label}]</a>")


def block_remote_images(sanitised_html: str) -> str:
    """``sanitised_html`` with every remote ``<img>`` replaced by a link to it."""
    return _IMG.sub(_placeholder, sanitised_html)
