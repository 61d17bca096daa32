"""Render a group's footer the way Karl does, for the settings page's live preview.

Karl renders each recipient's footer with a sandboxed Jinja2 template; the
preview uses the same sandbox and the same variable names (messageserver's
fanout builds them), filled with sample values, so an owner sees errors here
rather than in members' mail.
"""

from __future__ import annotations

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from groups import links
from groups.models import Group

_ENV = SandboxedEnvironment(autoescape=False)


class FooterError(ValueError):
    """The footer template doesn't parse or fails to render."""


def sample_vars(group: Group) -> dict[str, object]:
    name = group.name or "group"
    return {
        "group_name": name, "group_title": group.display_title if group.name else name,
        "group_url": links.absolute(f"/g/{name}/"), "owner_address": group.address("owner"),
        "number": 123, "subject": "An example subject",
        "message_url": links.absolute(f"/g/{name}/message/123/"),
        "reply_url": links.absolute(f"/g/{name}/message/123/reply/"),
        "topic_url": links.absolute(f"/g/{name}/topic/1/"),
        "name": "Alex Example", "email": "alex@example.org",
        "unsubscribe_url": links.absolute("/unsubscribe/SAMPLE/"),
        "mute_url": links.absolute("/mute/SAMPLE/"),
    }


def render_footer(template: str, group: Group) -> str:
    try:
        return _ENV.from_string(template).render(sample_vars(group))
    except TemplateError as exc:
        raise FooterError(f"The footer template has an error: {exc}") from None
