"""The notices an owner may reword, the variables each may use, and the preview.

The preview goes through ``messageserver.notices.render`` with the owner's
unsaved wording and a sample member, so it shows exactly what the mail would
say. An owner's wording is a Django template rendered inside our process, so
it may use only the variables listed for its notice (and their listed
attributes) and only the ``if``/``comment`` tags: a template could otherwise
reach other rows through the objects it is given (``membership.user`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.template import TemplateSyntaxError
from django.template.base import FilterExpression, Lexer, Parser, TokenType
from django.utils.translation import gettext_lazy as _

from groups import links, plaintext
from groups.models import Group, NoticeTemplate
from groups.translatedsource import translated_source
from messageserver import notices

K = NoticeTemplate.Kind


@dataclass(frozen=True)
class NoticeKind:
    kind: str
    label: str
    when: str  # one sentence: when the group sends it
    variables: dict[str, str]  # name -> what it holds


_GROUP = {
    "group.name": _("the group's name"), "group.display_title": _("the group's title"),
    "group.description": _("the group's description"), "group_url": _("the group's web page"),
    "post_address": _("the address to post to"), "owner_address": _("the owners' address"),
    "subscribe_address": _("the address to join by mail"),
    "unsubscribe_address": _("the address to leave by mail"),
    "help_address": _("the address for help with mail commands"),
    "guidelines": _("the group's guidelines (empty when it has none)"),
}
_MEMBER = {"membership.name": _("the member's name"), "membership.email": _("the member's address")}
_HELD = {"group.name": _("the group's name"), "group.display_title": _("the group's title"),
         "held.subject": _("the subject of the message"), "held.reason": _("why it was held")}

KINDS: dict[str, NoticeKind] = {k.kind: k for k in [
    NoticeKind(K.WELCOME, _("Welcome"), _("Sent to each new member when they join."),
               {**_GROUP, **_MEMBER}),
    NoticeKind(K.GOODBYE, _("Goodbye"), _("Sent to a member who leaves."), {**_GROUP, **_MEMBER}),
    NoticeKind(K.PENDING, _("Join request pending"),
               _("Sent to someone whose request to join waits for the owners' approval."),
               {**_GROUP, **_MEMBER}),
    NoticeKind(K.DECLINED, _("Join request declined"),
               _("Sent when an owner declines a request to join."),
               {**_GROUP, **_MEMBER, "reason": _("the owner's reason (may be empty)")}),
    NoticeKind(K.HELD, _("Message held"), _("Sent to a member whose post waits for a moderator."),
               _HELD),
    NoticeKind(K.REJECTED, _("Message rejected"), _("Sent when a moderator rejects a post."),
               {**_HELD, "reason": _("the moderator's reason (may be empty)")}),
    NoticeKind(K.GUIDELINES, _("Monthly guidelines"),
               _("Sent to every member once a month when the monthly reminder is on."),
               {**_GROUP, "month": _("the month, as YYYY-MM")}),
    NoticeKind(K.RESTORED, _("Membership restored"),
               _("Sent when a member restores their membership with the link they were sent."),
               {**_GROUP, **_MEMBER,
                "was_removed": _("true when they had been removed, false when only their "
                                 "mail had been stopped")}),
]}

ALLOWED_TAGS = frozenset({"if", "elif", "else", "endif", "comment", "endcomment"})
ALLOWED_FILTERS = frozenset({"default", "upper", "lower", "title", "capfirst", "length",
                             "linebreaks", "wordwrap", "yesno", "truncatewords"})


class NoticeError(ValueError):
    """The owner's wording can't be used; ``field`` is subject or body."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def default_wording(kind: str) -> tuple[str, str]:
    """The site's own subject and text for ``kind`` (templates/email/KIND.txt), in the
    owner's language, as plain template text the owner may edit."""
    source = translated_source(plaintext.ENGINE.get_template(f"email/{kind}.txt").source)
    subject, _sep, body = source.partition("\n\n")
    return subject.strip(), body.strip() + "\n"


def _check(kind: str, field: str, source: str) -> None:
    """Only the listed variables, filters and tags (see the module docstring)."""
    names = set(KINDS[kind].variables)
    roots = {n.split(".")[0] for n in names}
    parser = Parser([], builtins=plaintext.ENGINE.template_builtins)
    try:
        tokens = Lexer(source).tokenize()
    except TemplateSyntaxError as exc:
        raise NoticeError(field, _("The template doesn't parse: %(problem)s") % {"problem": exc}) from None
    expressions = []
    for token in tokens:
        if token.token_type == TokenType.VAR:
            expressions.append(token.contents)
        elif token.token_type == TokenType.BLOCK:
            bits = token.split_contents()
            if bits[0] not in ALLOWED_TAGS:
                raise NoticeError(field, _("{%% %(tag)s %%} is not allowed in notices; use {%% if %%}, "
                                           "{%% else %%} and {%% endif %%}.") % {"tag": bits[0]})
            expressions += [b for b in bits[1:] if b not in ("and", "or", "not", "in", "==",
                                                              "!=", "<", ">", "<=", ">=")]
    for text in expressions:
        if text[:1] in "\"'" or text.lstrip("-").replace(".", "").isdigit():
            continue
        try:
            expr = FilterExpression(text, parser)
        except TemplateSyntaxError as exc:
            raise NoticeError(field, _("The template doesn't parse: %(problem)s") % {"problem": exc}) from None
        used = [expr.var]
        for func, args in expr.filters:
            if func.__name__ not in ALLOWED_FILTERS:
                raise NoticeError(field, _("The filter |%(name)s is not allowed.") % {"name": func.__name__})
            used += [arg for is_variable, arg in args if is_variable]
        for variable in used:
            if getattr(variable, "lookups", None) is None:
                continue  # a literal: "text" or a number
            var = variable.var
            if var not in names and var not in roots - {"group", "membership", "held"}:
                raise NoticeError(field,
                                  _("{{ %(name)s }} is not one of this notice's variables.") % {
                                      "name": var})


def sample_context(kind: str, group: Group) -> dict[str, Any]:
    """The context the real notice gets, for a sample member and a sample held message."""
    member = SimpleNamespace(name="Alex Example", email="alex@example.org",
                             display_name="Alex Example")
    held = SimpleNamespace(subject="An example subject",
                           reason="posts from new members are moderated")
    ctx = notices.group_context(group, membership=member, held=held, reason="An example "
                                "reason.", month="2026-01", was_removed=True)
    ctx["pending_url"] = links.group_url(group.name)
    return ctx


def preview(kind: str, group: Group, subject: str, body: str) -> tuple[str, str]:
    """The notice as the sample member would get it, with this (unsaved) wording."""
    _check(kind, "subject", subject)
    _check(kind, "body", body)
    try:
        return notices.render(kind, group, sample_context(kind, group), wording=(subject, body))
    except TemplateSyntaxError as exc:
        raise NoticeError("body", _("The template doesn't parse: %(problem)s") % {"problem": exc}) from None
    except Exception as exc:  # a filter given a bad argument, and the like
        raise NoticeError("body", _("The template fails to render: %(problem)s") % {"problem": exc}) from None
