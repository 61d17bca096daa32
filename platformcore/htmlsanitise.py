"""The one allow-list for HTML that pages show: mail bodies, Markdown posts, later wiki pages.

Everything a reader's browser renders from a post goes through ``clean``
first: HTML mail as it arrives (messageserver.mailparse.sanitize_html) and the
output of our own Markdown renderer (platformcore.markdown), so a post written
on the web and the same post read from the archive are shown by one rule.

What it keeps is what makes mail "formatted as sent": paragraphs, headings,
emphasis, lists, tables, quoted blocks, links (with rel="noopener noreferrer
nofollow"), images. What it must never keep: scripts, styles, event handlers,
``javascript:`` or ``data:`` URLs, forms, frames. ``class`` survives only with
the names of the code highlighter (Pygments' short token names and
``highlight``), so mail can't borrow the site's own classes to pass as its UI.
``cid:`` links survive for inline images; the archive points them at the
stored attachment when it shows the message.
"""

from __future__ import annotations

import nh3
from pygments.token import STANDARD_TYPES

#: The tags nh3 allows by default (ammonia's list: no script, style, form, iframe...).
TAGS: frozenset[str] = frozenset(nh3.ALLOWED_TAGS)

#: Per-tag attributes: nh3's defaults plus alt/title on images and title on abbreviations.
ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": set(nh3.ALLOWED_ATTRIBUTES.get("img", ())) | {"title"},
    "abbr": {"title"},
    "td": set(nh3.ALLOWED_ATTRIBUTES.get("td", ())) | {"valign"},
    "th": set(nh3.ALLOWED_ATTRIBUTES.get("th", ())) | {"valign"},
}

#: The only class names kept: Pygments' token classes on spans, its wrapper on pre.
HIGHLIGHT_CLASSES: frozenset[str] = frozenset(c for c in STANDARD_TYPES.values() if c)
CLASSES: dict[str, set[str]] = {"pre": {"highlight"}, "span": set(HIGHLIGHT_CLASSES)}

#: URL schemes a link or image may use; relative URLs are kept as they are.
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto", "cid"})

#: Tags removed with everything inside them.
DROPPED_WITH_CONTENT: frozenset[str] = frozenset({"script", "style", "title", "head"})


def clean(markup: str) -> str:
    """``markup`` (any HTML, however hostile) reduced to the allow-list above.

    Idempotent: cleaning clean output changes nothing, which is why the archive
    can sanitise a web post's HTML again and still show exactly what was mailed.
    """
    return nh3.clean(markup or "", tags=set(TAGS), attributes=ATTRIBUTES,
                     clean_content_tags=set(DROPPED_WITH_CONTENT),
                     link_rel="noopener noreferrer nofollow", url_schemes=set(URL_SCHEMES),
                     allowed_classes=CLASSES)
