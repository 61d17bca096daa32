"""Readable plain text from HTML: the one html_to_text, for mail, bounces, feeds and search.

The archive's text of an HTML-only post, the words a bounce scanner reads,
a feed entry's text and the search index all come from here, so they agree
on where a line ends (br, p, div, li, tr, h1-h6), on entities (all of them,
&#64; included) and on script and style (their content dropped, by nh3).
Spaces inside a line are collapsed, as a browser shows them; at most one
empty line is kept between paragraphs.
"""

from __future__ import annotations

import html
import re

import nh3

_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</li\s*>|</tr\s*>|</h[1-6]\s*>")


def html_to_text(markup: str) -> str:
    """The text of ``markup`` (any HTML, trusted or not), one line per block."""
    text = _BLOCK_END.sub("\n", markup or "")
    text = html.unescape(nh3.clean(text, tags=set()))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
