"""Footer templates: Jinja2 in the sandbox, compiled at submission, rendered per recipient.

A group owner writes the footer, so it runs in ``ImmutableSandboxedEnvironment``:
no attribute access to Python internals, no mutation of the data it is given.
A template that does not compile is refused when the job is submitted (422),
never discovered at send time. Undefined variables render as empty text, so a
footer naming a variable one job lacks still sends.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

_TEXT_ENV = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
_HTML_ENV = ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=False)


class FooterError(ValueError):
    """A footer template that cannot be compiled or rendered."""


def _nl2br(value: str) -> str:
    return "<br>\n".join(html.escape(line) for line in value.splitlines())


def _compile(env: ImmutableSandboxedEnvironment, source: str) -> Any:
    try:
        return env.from_string(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise FooterError(f"template error{where}: {exc}") from None


Part = str | tuple[str]  # literal text, or (variable name,)


def _plain_parts(env: ImmutableSandboxedEnvironment, source: str) -> list[Part] | None:
    """The template as literal text and bare ``{{ name }}`` outputs, or None if it does more.

    Most footers are exactly that (text and a few links), and for them Jinja2's
    render (a new context, its dicts and its generator, per recipient) cost more
    than the rest of composing a copy but the signature. Such a footer is
    rendered by joining the parts (``_splice``); anything else (filters, tags,
    attributes, a name that is one of Jinja2's globals) goes through Jinja2.
    The text parts come from Jinja2's own parser, so whitespace control and the
    trailing newline are exactly Jinja2's.
    """
    try:
        tree = env.parse(source)
    except TemplateError:
        return None
    parts: list[Part] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
            elif (isinstance(child, nodes.Name) and child.ctx == "load"
                  and child.name not in env.globals):
                parts.append((child.name,))
            else:
                return None
    return parts


def _splice(parts: list[Part], variables: dict[str, Any], autoescape: bool) -> str:
    """What Jinja2 renders for ``parts``: str() of each value (escaped), "" when undefined."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif part[0] in variables:
            value = variables[part[0]]
            out.append(str(escape(value)) if autoescape else str(value))
    return "".join(out)


@dataclass
class Footer:
    """A compiled text footer and its HTML twin."""

    text_source: str
    html_source: str | None = None

    def __post_init__(self) -> None:
        self._text = _compile(_TEXT_ENV, self.text_source)
        self._html = _compile(_HTML_ENV, self.html_source) if self.html_source else None
        self._text_parts = _plain_parts(_TEXT_ENV, self.text_source)
        self._html_parts = (_plain_parts(_HTML_ENV, self.html_source) if self.html_source
                            else None)

    def render(self, variables: dict[str, Any], html: bool = True) -> tuple[str, str]:
        """(text, html) for one recipient; the HTML defaults to the text, escaped.

        ``html=False`` when the copy has no HTML part to put it in: "" instead.
        """
        try:
            if self._text_parts is not None:
                text = _splice(self._text_parts, variables, False).strip("\r\n")
            else:
                text = self._text.render(variables).strip("\r\n")
            if not html:
                html_text = ""
            elif self._html_parts is not None:
                html_text = _splice(self._html_parts, variables, True).strip("\r\n")
            elif self._html is not None:
                html_text = self._html.render(variables).strip("\r\n")
            else:
                html_text = f'<div class="list-footer">{_nl2br(text)}</div>'
        except TemplateError as exc:
            raise FooterError(f"template error: {exc}") from None
        except Exception as exc:  # a sandboxed template can still divide by zero
            raise FooterError(f"template failed: {type(exc).__name__}: {exc}") from None
        return text, html_text


def check(source: str, *, html_template: bool = False) -> str | None:
    """The reason ``source`` is not a usable template, or None."""
    try:
        _compile(_HTML_ENV if html_template else _TEXT_ENV, source)
    except FooterError as exc:
        return str(exc)
    return None
