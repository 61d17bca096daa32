"""Footers made of text and bare ``{{ name }}`` are spliced, not rendered: the same text as Jinja2.

karl.footer renders such a footer by joining its parts (most footers are
exactly that, and Jinja2's per-copy render cost more than composing the rest
of the copy); whatever else a template does goes through Jinja2. Here Jinja2
itself is the judge, over generated templates and variables.
"""

from __future__ import annotations

import os

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from karl.footer import _HTML_ENV, _TEXT_ENV, Footer, _plain_parts

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
FAST = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)

NAMES = st.sampled_from(["email", "name", "unsubscribe_url", "number", "missing", "range"])
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"],
                                      blacklist_characters="{}%#"), max_size=30)
VALUES = st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans(),
                   st.floats(allow_nan=False), st.lists(st.integers(), max_size=3))
PIECES = st.lists(st.one_of(TEXT, NAMES.map(lambda n: "{{ " + n + " }}"),
                            NAMES.map(lambda n: "{{- " + n + " -}}"),
                            st.sampled_from(["\n", "\r\n", "  ", "<b>&</b>"])), max_size=12)


@FAST
@given(pieces=PIECES, variables=st.dictionaries(NAMES, VALUES, max_size=5),
       html=st.booleans())
def test_a_plain_footer_renders_exactly_as_jinja2_does(pieces, variables, html):
    source = "".join(pieces)
    assume(source or not html)  # an empty HTML template means "none given"
    env = _HTML_ENV if html else _TEXT_ENV
    expected = env.from_string(source).render(variables).strip("\r\n")
    footer = Footer("x", source) if html else Footer(source)
    text, html_text = footer.render(variables)
    assert (html_text if html else text) == expected


def test_templates_that_do_more_than_names_go_through_jinja2():
    for source in ("{{ name|upper }}", "{% if name %}x{% endif %}", "{{ a.b }}",
                   "{{ range }}", "{{ 1 + 2 }}", "{{ name }}{% set x = 1 %}"):
        assert _plain_parts(_TEXT_ENV, source) is None, source
    assert Footer("{{ name|upper }} {{ range(2)|list }}").render({"name": "ann"})[0] == \
        "ANN [0, 1]"
    assert _plain_parts(_TEXT_ENV, "Leave: {{ unsubscribe_url }}\n") == \
        ["Leave: ", ("unsubscribe_url",)]


def test_no_html_footer_is_made_for_a_copy_without_html():
    footer = Footer("Hi {{ name }}")
    assert footer.render({"name": "Ann <a>"}, html=False) == ("Hi Ann <a>", "")
    assert footer.render({"name": "Ann <a>"})[1] == \
        '<div class="list-footer">Hi Ann &lt;a&gt;</div>'
