"""The Markdown renderer: CommonMark, highlighted code, and nothing unsafe getting through."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from platformcore import htmlsanitise, markdown

STATIC_CSS = Path(__file__).parents[2] / "groups" / "static" / "groups" / "highlight.css"


@pytest.mark.parametrize(("source", "expected"), [
    ("# Title", "<h1>Title</h1>"),
    ("Setext\n===", "<h1>Setext</h1>"),
    ("*em* and **strong**", "<p><em>em</em> and <strong>strong</strong></p>"),
    ("~~gone~~", "<p><s>gone</s></p>"),
    ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
    ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
    ("> quoted\n> text", "<blockquote>\n<p>quoted\ntext</p>\n</blockquote>"),
    ("`a < b`", "<p><code>a &lt; b</code></p>"),
    ("    indented code", "<pre><code>indented code\n</code></pre>"),
    ("a  \nb", "<p>a<br>\nb</p>"),
    ("***", "<hr>"),
    ("\\*not em\\*", "<p>*not em*</p>"),
    ("[link](https://example.org/a?b=1&c=2 \"T\")",
     '<p><a href="https://example.org/a?b=1&amp;c=2" title="T" '
     'rel="noopener noreferrer nofollow">link</a></p>'),
    ("<https://example.org>",
     '<p><a href="https://example.org" rel="noopener noreferrer nofollow">'
     "https://example.org</a></p>"),
    ("| a | b |\n|:--|--:|\n| 1 | 2 |", "<th>a</th>"),
])
def test_commonmark_and_the_github_extensions(source, expected):
    assert expected in markdown.render(source)


REL = 'rel="noopener noreferrer nofollow"'


@pytest.mark.parametrize(("source", "expected"), [
    ("see https://example.org/a?b=1&c=2.",
     f'<p>see <a href="https://example.org/a?b=1&amp;c=2" {REL}>'
     "https://example.org/a?b=1&amp;c=2</a>.</p>"),
    ("(https://en.wikipedia.org/wiki/Ridge_(geology))",
     f'<p>(<a href="https://en.wikipedia.org/wiki/Ridge_(geology)" {REL}>'
     "https://en.wikipedia.org/wiki/Ridge_(geology)</a>)</p>"),
    ("on www.example.org today",
     f'<p>on <a href="http://www.example.org" {REL}>www.example.org</a> today</p>'),
    ("mailto:bob@example.org", f'<p><a href="mailto:bob@example.org" {REL}>'
                               "mailto:bob@example.org</a></p>"),
    ("HTTP://EXAMPLE.ORG/X", f'<p><a href="HTTP://EXAMPLE.ORG/X" {REL}>HTTP://EXAMPLE.ORG/X</a></p>'),
])
def test_bare_urls_become_links_with_the_sites_rel(source, expected):
    assert markdown.render(source).strip() == expected


@pytest.mark.parametrize("source", [
    "run setup.py, then read README.md",  # file names, not Paraguay's or Moldova's sites
    "write to bob@example.org",  # addresses stay text
    "ftp://example.org/file and //example.org/x",  # schemes the sanitiser doesn't keep
    "`https://example.org/in-code`",
    "```\nhttps://example.org/in-a-block\n```",
    "javascript:alert(1) and data:text/html,<b>x</b>",
])
def test_what_stays_text(source):
    assert "<a " not in markdown.render(source)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def test_a_bare_url_cannot_smuggle_markup():
    html = markdown.render('https://example.org/"onmouseover="alert(1) '
                           "https://example.org/<script>alert(2)</script>")
    found = _Tags()
    found.feed(html)
    links = [attrs for tag, attrs in found.tags if tag == "a"]
    assert [tag for tag, _ in found.tags] == ["p", "a", "a"]  # no script, nothing else
    assert len(links) == 2 and all(set(a) == {"href", "rel"} for a in links)
    assert all(a["rel"] == "noopener noreferrer nofollow" for a in links)
    assert links[0]["href"] == "https://example.org/%22onmouseover=%22alert(1)"
    assert htmlsanitise.clean(html) == html


def test_a_table_keeps_its_alignment_as_an_attribute_not_a_style():
    html = markdown.render("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "<table>" in html and "<td>1</td>" in html
    assert "style=" not in html  # the site's CSP would refuse inline styles


def test_fenced_code_in_a_known_language_is_highlighted_with_classes():
    html = markdown.render('```python\ndef greet(name):\n    return f"<b>{name}</b>"\n```')
    assert html.startswith('<pre class="highlight"><code>')
    assert '<span class="k">def</span>' in html and '<span class="nf">greet</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html  # the code is text, never markup
    assert "style=" not in html


@pytest.mark.parametrize("fence", ["```", "```nosuchlanguage", "~~~"])
def test_code_without_a_known_language_is_escaped_plain(fence):
    close = "~~~" if fence == "~~~" else "```"
    html = markdown.render(f"{fence}\n<script>alert(1)</script>\n{close}")
    assert html == "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>\n"


def test_the_static_stylesheet_is_the_renderers():
    """groups/static/groups/highlight.css is written from highlight_css(); keep them equal."""
    assert STATIC_CSS.read_text().split("\n", 1)[1] == markdown.highlight_css()
    assert all(rule.startswith("pre.highlight") for rule in
               markdown.highlight_css().splitlines())


XSS = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="jav&#x61;script:alert(1)">click</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "![pic](javascript:alert(1))",
    '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    '<iframe src="https://evil.example"></iframe>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<style>body{display:none}</style>",
    '<form action="https://evil.example"><input name="password"></form>',
    '<div class="flash error">looks like the site</div>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<a href="https://ok.example" onmouseover="alert(1)">hover</a>',
    "<body onload=alert(1)>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
]


@pytest.mark.parametrize("attack", XSS)
def test_hostile_markup_in_markdown_is_sanitised(attack):
    html = markdown.render(f"Hello\n\n{attack}\n\nbye").lower()
    markup = " ".join(re.findall(r"<[^>]*>", html))  # a refused link stays as harmless text
    for bad in ("<script", "onerror", "onload", "onmouseover", "javascript:", "data:",
                "<iframe", "style", "<form", "<input", "<object", "<embed", "<meta",
                'class="flash', "<svg"):
        assert bad not in markup, (attack, html)
    assert "alert(1)</" not in html  # no script's text was left as a script
    assert "hello" in html and "bye" in html


def test_harmless_raw_html_is_kept():
    html = markdown.render("Press <kbd>Ctrl</kbd>+<kbd>C</kbd>, H<sub>2</sub>O")
    assert "<kbd>Ctrl</kbd>" in html and "<sub>2</sub>" in html


@pytest.mark.parametrize("source", ["# A\n\n```python\nx = 1\n```\n\n| a |\n|---|\n| 1 |",
                                    "[x](https://example.org) ![i](cid:pic.png)"])
def test_rendering_is_stable_under_the_sanitiser(source):
    """The archive sanitises a web post's HTML again: it must come out unchanged."""
    html = markdown.render(source)
    assert htmlsanitise.clean(html) == html


def test_images_are_found_and_repointed_by_the_name_typed():
    html = markdown.render("![a](my%20hill.jpg) ![b](<other pic.png>) ![c](cid:x@y)")
    assert markdown.image_sources(html) == ["my hill.jpg", "other pic.png", "cid:x@y"]
    moved = markdown.replace_image_sources(html, {"my hill.jpg": "cid:1@h", "cid:x@y": "/f?a&b"})
    assert markdown.image_sources(moved) == ["cid:1@h", "other pic.png", "/f?a&b"]
    assert 'src="/f?a&amp;b"' in moved


def test_the_mail_document_carries_the_stylesheet_the_archive_drops():
    fragment = markdown.render("```python\nx = 1\n```")
    document = markdown.mail_document(fragment, "A <title>")
    assert "<style>" in document and "pre.highlight .k" in document
    assert "A &lt;title&gt;" in document
    assert htmlsanitise.clean(document).strip() == fragment.strip()
