"""A web post's bodies: Markdown rendered to HTML, its pictures inline, the rest attached.

A post written in Markdown on the website goes out as multipart/alternative:
the Markdown source as text/plain (readable as it is, which is what Markdown
is for) and the rendered HTML as text/html. An image attachment the Markdown
shows (``![a hill](hill.jpg)`` or ``![](cid:hill.jpg)``) travels inside the
HTML part's multipart/related with a Content-ID, so mail clients show it in
place; every other file stays an ordinary attachment around the lot
(multipart/mixed). The archive keeps the sanitised fragment, which is the
mail's HTML body minus the highlighter's ``<style>``.

Pure: bytes and strings in, the parts out; ``posts.compose`` writes the MIME.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import make_msgid

from django.conf import settings

from platformcore import markdown

#: Set on a web post written in Markdown (body_text is then its source); believed only
#: on posts from the website (archive.archive), never on mail.
MARKDOWN_HEADER = "X-Groups-Format"

#: Image types every mail client and browser shows in place.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass
class Bodies:
    text: str
    html: str = ""  # the whole document of the mail's text/html part, or ""
    fragment: str = ""  # the rendered, sanitised HTML the archive shows
    inline: list[tuple[str, str, bytes, str]] = field(default_factory=list)  # + Content-ID
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


def new_content_id() -> str:
    """A Content-ID (without its angle brackets) unique to this site."""
    return make_msgid(idstring="img", domain=settings.GROUPS_DOMAIN)[1:-1]


def bodies(text: str, attachments: list[tuple[str, str, bytes]], *, markdown_source: bool,
           title: str = "", html: str = "") -> Bodies:
    """The parts of a post; for Markdown, the referenced images made inline."""
    if not markdown_source:
        return Bodies(text=text, html=html, fragment="", attachments=list(attachments))
    fragment = markdown.render(text)
    shown = set(markdown.image_sources(fragment))
    out = Bodies(text=text)
    new_src: dict[str, str] = {}
    for filename, ctype, data in attachments:
        names = {filename, f"cid:{filename}"} & shown
        if names and ctype.lower() in INLINE_TYPES:
            cid = new_content_id()
            out.inline.append((filename, ctype, data, cid))
            new_src.update({name: f"cid:{cid}" for name in names})
        else:
            out.attachments.append((filename, ctype, data))
    out.fragment = markdown.replace_image_sources(fragment, new_src)
    out.html = markdown.mail_document(out.fragment, title)
    return out
