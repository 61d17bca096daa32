"""The one html_to_text: what each of the three copies did, now done by one function."""

from __future__ import annotations

from cronjobs import rsscrawler
from messageserver import mailparse
from messageserver.bounces import mime
from platformcore.htmltext import html_to_text
from search import backend


def test_every_user_has_the_same_function():
    assert mailparse.html_to_text is mime.html_to_text is html_to_text
    assert rsscrawler.html_to_text is backend.html_to_text is html_to_text


def test_blocks_end_lines_and_paragraphs_keep_one_empty_line():
    html = "<h1>Title</h1><p>one<br>two</p><ul><li>a</li><li>b</li></ul><p></p><p></p><p>end</p>"
    assert html_to_text(html) == "Title\none\ntwo\na\nb\n\nend"


def test_script_and_style_are_dropped_with_their_content():
    """The bounce copy dropped them by regex, the others by nh3: now nh3 for all."""
    assert html_to_text("<style>p{x:1}</style>Hi<script>alert(1)</script>!") == "Hi!"


def test_every_entity_is_decoded_including_the_bounce_scanners_at_sign():
    """The bounce copy knew six entities (&#64; among them), the others all of them."""
    assert html_to_text("user&#64;example.org &lt;5.1.1&gt; &eacute;t&eacute; &amp;") == (
        "user@example.org <5.1.1> été &")


def test_spaces_in_a_line_collapse_as_a_browser_shows_them():
    assert html_to_text("  a \t  b\n<div>  c  </div>") == "a b\nc"


def test_nothing_gives_nothing():
    assert html_to_text("") == "" and html_to_text(None) == ""  # type: ignore[arg-type]
