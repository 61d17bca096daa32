"""Form widgets the site needs beyond Django's own.

Django renders a ``Select`` through one template per option: about 0.1 ms
each, so the search page's Group menu (up to 500 readable groups) spent more
than the search itself (the page took 50 ms at a million messages, its
search 25). ``LongSelect`` writes the same markup in one pass.
"""

from __future__ import annotations

import html

from django import forms
from django.forms.utils import flatatt
from django.utils.safestring import SafeString, mark_safe


class LongSelect(forms.Select):
    """A ``Select`` for menus of hundreds of options, with Django's markup and attributes.

    The context is Django's own (``get_context``: the name, the field's
    attributes such as ``id``, ``required`` and ``aria-describedby``, each
    option's value, label and ``selected``), so labels, errors and the
    selected option behave exactly as with ``forms.Select``; only the
    per-option template is left out. Option groups are not supported: a
    menu that needs them is not this long.
    """

    def render(self, name: str, value, attrs=None, renderer=None) -> SafeString:  # noqa: ANN001
        widget = self.get_context(name, value, attrs)["widget"]
        options = "".join(
            f'<option value="{_text(option["value"])}"{_attributes(option["attrs"])}>'
            f'{_text(option["label"])}</option>'
            for _group, group_options, _index in widget["optgroups"]
            for option in group_options)
        return mark_safe(f'<select name="{_text(widget["name"])}"'
                         f'{flatatt(widget["attrs"])}>{options}</select>')


def _text(value: object) -> str:
    """Escaped as Django's templates escape (a value already marked safe is kept)."""
    if value is None:
        return ""
    if isinstance(value, SafeString):
        return str(value)
    return html.escape(str(value), quote=True)


def _attributes(attrs: dict) -> str:
    """``flatatt`` for an option's few attributes (``selected``), without its lazy wrappers."""
    return "".join(f" {key}" if item is True else f' {key}="{_text(item)}"'
                   for key, item in attrs.items() if item is not False and item is not None)
