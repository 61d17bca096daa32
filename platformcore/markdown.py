"""Markdown to safe HTML: the one renderer for web posts (and, later, wiki pages).

CommonMark (markdown-it-py) with GitHub's tables and ~~strikethrough~~, and bare
URLs (https://…, www.…) made links as GitHub does (linkify-it-py, ``_bare_links``);
fenced code blocks that name a language Pygments knows are highlighted with
CSS classes, never inline styles: the site's Content-Security-Policy allows
no style attributes, and the classes are styled by the static
``groups/highlight.css`` (written from ``highlight_css()``, a test keeps them
equal). The mail's HTML part carries the same rules in a ``<style>`` element
(``mail_document``), since a mail client has no stylesheet of ours.

Raw HTML written in the Markdown is allowed through markdown-it and then,
like everything else, reduced by the site's one allow-list
(platformcore.htmlsanitise): ``render`` never returns unsanitised markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from functools import cache
from urllib.parse import unquote

from linkify_it import LinkifyIt
from linkify_it.main import Match
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from platformcore import htmlsanitise

#: The Pygments style of the highlighted code, in the archive and in mail alike.
STYLE = "default"
_FORMATTER = HtmlFormatter(cssclass="highlight", style=STYLE, nowrap=True)


def _highlight(code: str, lang: str, attrs: str) -> str:
    """markdown-it's highlight hook: Pygments' HTML, or "" to let markdown-it escape it."""
    name = (lang or "").strip().split()[0] if lang and lang.strip() else ""
    if not name:
        return ""
    try:
        lexer = get_lexer_by_name(name, stripall=False)
    except ClassNotFound:
        return ""
    # markdown-it takes output starting with "<pre" as the whole block.
    return f'<pre class="highlight"><code>{highlight(code, lexer, _FORMATTER)}</code></pre>\n'


def _www_link(linkify: LinkifyIt, match: Match) -> None:
    match.url = "http://" + match.url


@cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"highlight": _highlight, "linkify": True})
    md.enable(["table", "strikethrough", "linkify"])
    _bare_links(md.linkify)
    return md


def _bare_links(linkify: LinkifyIt) -> None:
    """Which bare text becomes a link: http(s):// and mailto: URLs, and www. addresses.

    Not linkify-it's "fuzzy" links (any word with a dot and a top-level domain:
    "setup.py" and "README.md" are Paraguay and Moldova) nor bare addresses (a post
    full of addresses isn't a page of mailto: links); not ftp: or //host either (the
    sanitiser keeps http, https, mailto and cid only).
    """
    linkify.set({"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
    linkify.add("ftp:", None)
    linkify.add("//", None)
    linkify.add("www.", {"validate": re.compile(
        "^" + linkify.re["src_host_port_strict"] + linkify.re["src_path"], re.IGNORECASE),
        "normalize": _www_link})


def render(source: str) -> str:
    """The sanitised HTML fragment of the Markdown ``source``."""
    return htmlsanitise.clean(_parser().render(source or ""))


def highlight_css() -> str:
    """The stylesheet for highlighted code (``pre.highlight`` and its token classes)."""
    rules = HtmlFormatter(style=STYLE).get_style_defs("pre.highlight").splitlines()
    # only the scoped rules: Pygments also styles every pre and line numbers we don't use
    return "\n".join(r for r in rules if r.startswith("pre.highlight")) + "\n"


def mail_document(fragment: str, title: str = "") -> str:
    """A whole HTML document around ``fragment`` for the mail's text/html part.

    Mail clients have none of our CSS, so the highlighter's rules travel in the
    document's ``<style>``; the archive drops head and style when it sanitises
    the part and keeps exactly ``fragment``.
    """
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n{highlight_css()}</style>\n"
            f"</head>\n<body>\n{fragment}\n</body>\n</html>\n")


_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]*)(")', re.IGNORECASE)


def _plain_src(src: str) -> str:
    """An image source as a person typed it: entities and %-escapes undone."""
    return unquote(html.unescape(src)).strip()


def image_sources(fragment: str) -> list[str]:
    """The sources of the ``<img>`` tags of a sanitised fragment, as typed, in order."""
    return [_plain_src(m.group(2)) for m in _IMG_SRC.finditer(fragment)]


def replace_image_sources(fragment: str, new_src: Mapping[str, str]) -> str:
    """``fragment`` with each ``<img>`` whose source (as typed) is a key of ``new_src``
    pointing at that key's value instead (a file name becomes ``cid:...`` in mail, a
    ``cid:`` becomes the attachment's address in the archive).

    Works on sanitised output only, whose attributes are double-quoted and
    escaped, which is why a pattern is enough here.
    """
    def swap(m: re.Match[str]) -> str:
        target = new_src.get(_plain_src(m.group(2)))
        if target is None:
            return m.group(0)
        return m.group(1) + html.escape(target, quote=True) + m.group(3)

    return _IMG_SRC.sub(swap, fragment)
