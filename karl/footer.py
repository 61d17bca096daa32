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

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

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


@dataclass
class Footer:
    """A compiled text footer and its HTML twin."""

    text_source: str
    html_source: str | None = None

    def __post_init__(self) -> None:
        self._text = _compile(_TEXT_ENV, self.text_source)
        self._html = _compile(_HTML_ENV, self.html_source) if self.html_source else None

    def render(self, variables: dict[str, Any]) -> tuple[str, str]:
        """(text, html) for one recipient; the HTML defaults to the text, escaped."""
        try:
            text = self._text.render(variables).strip("\r\n")
            if self._html is not None:
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
