"""Render plain-text mail from templates without HTML escaping.

A Django ``Context`` autoescapes by default, whatever its Engine says: a
``Template.render(Context(...))`` of a text template turns ``l'entrée`` into
``l&#x27;entrée`` and mangles every ``& < > ' "``. Text parts of notices,
digests and summaries are rendered only through these two functions, which
switch autoescaping off; HTML parts keep their own autoescaping engine.
"""

from __future__ import annotations

from typing import Any

from django.template import Context, Engine, Template

from platformcore.env import PROJECT_DIR

# What mail templates may {% load %}: translations, and times in the reader's zone.
LIBRARIES = {"i18n": "django.templatetags.i18n", "localtimes": "groups.templatetags.localtimes"}
ENGINE = Engine(dirs=[str(PROJECT_DIR / "templates")], autoescape=False, libraries=LIBRARIES)


def render_file(name: str, context: dict[str, Any]) -> str:
    """The template ``name`` (under templates/) rendered as plain text."""
    return ENGINE.get_template(name).render(Context(context, autoescape=False))


def render_string(source: str, context: dict[str, Any]) -> str:
    """A template held as text (an owner's own wording) rendered as plain text."""
    return Template(source, engine=ENGINE).render(Context(context, autoescape=False))
