"""Creating a group: which names are allowed, what each starting style sets, the first owner.

One place for the name rule, so the web form, its live check and
``manage.py creategroup`` can never disagree. A style is only a starting
point: it fills existing Group fields, which the owner can change later in
the settings. The creator becomes the group's owner through
``groups.membership.add_members``, the path every other addition takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from groups.membership import add_members
from groups.models import Group, Membership, User

# Local parts the mail side uses itself or that people expect to reach the site.
RESERVED_NAMES = frozenset({
    "bounce", "postmaster", "abuse", "hostmaster", "webmaster", "mailer-daemon", "noreply",
    "no-reply", "root", "admin", "administrator", "www", "mail", "security", "support",
    "help", "info", "owner", "owners", "moderator", "moderators", "site", "static",
    "accounts", "search", "my",
})
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class Style:
    """A starting style: its label, one sentence for the chooser, and the fields it sets."""

    label: str
    help: str
    fields: dict[str, str]


STYLES: dict[str, Style] = {
    "discussion": Style(
        _("Discussion"), _("Members post freely; replies go to the group."),
        {"posting_policy": Group.PostingPolicy.MEMBERS, "join_policy": Group.JoinPolicy.OPEN,
         "privacy": Group.Privacy.PUBLIC, "reply_to": Group.ReplyTo.GROUP}),
    "announcement": Style(
        _("Announcement"), _("Only owners and moderators post; replies go to the sender."),
        {"posting_policy": Group.PostingPolicy.ANNOUNCE, "join_policy": Group.JoinPolicy.OPEN,
         "privacy": Group.Privacy.PUBLIC, "reply_to": Group.ReplyTo.SENDER}),
    "moderated": Style(
        _("Moderated discussion"), _("Members post, and a moderator approves every post first."),
        {"posting_policy": Group.PostingPolicy.MODERATED, "join_policy": Group.JoinPolicy.OPEN,
         "privacy": Group.Privacy.PUBLIC, "reply_to": Group.ReplyTo.GROUP}),
    "restricted": Style(
        _("Restricted"), _("People join only when an owner approves; the archive is for members."),
        {"posting_policy": Group.PostingPolicy.MEMBERS,
         "join_policy": Group.JoinPolicy.APPROVAL,
         "privacy": Group.Privacy.PRIVATE_ARCHIVE, "reply_to": Group.ReplyTo.GROUP}),
}


def name_problem(name: str) -> str:
    """Why ``name`` can't be a new group's name, or "" when it can."""
    if not name:
        return str(_("Choose a name."))
    if not NAME_RE.match(name):
        return str(_("Use up to 64 lower-case letters, digits, hyphens and underscores, "
                     "starting and ending with a letter or a digit."))
    if name in RESERVED_NAMES:
        return _("“%(name)s” is reserved; choose another name.") % {"name": name}
    if Group.objects.filter(name=name).exists():
        return _("A group named “%(name)s” exists already.") % {"name": name}
    return ""


def may_create(user: User) -> bool:
    """The GROUP_CREATION setting: "anyone" logged in, or "staff" only."""
    if not user.is_authenticated:
        return False
    if settings.GROUP_CREATION == "staff":
        return bool(user.is_staff or user.is_superuser)
    return True


class NameTaken(ValueError):
    """Someone took the name between the check and the insert."""


def create_group(*, name: str, title: str, description: str, style: str,
                 owner_email: str, owner_name: str = "") -> Group:
    """The group with its style's settings and its first owner, in one transaction."""
    fields = STYLES[style].fields
    try:
        with transaction.atomic():
            group = Group.objects.create(name=name, title=title, description=description,
                                         **fields)
            entry = f"{owner_name} <{owner_email}>" if owner_name else owner_email
            add_members(group, [entry], role=Membership.Role.OWNER)
    except IntegrityError:
        raise NameTaken(name) from None
    return group


def create_for(user: User, data: dict) -> Group:
    """The group a creation form's ``data`` describes, ``user`` its first owner.

    The website's form and the API's body are the same CreateGroupForm; both end here.
    """
    return create_group(name=data["name"], title=data["title"],
                        description=data["description"], style=data["style"],
                        owner_email=user.email, owner_name=user.display_name)


def subgroup_problem(parent: Group, child: str) -> str:
    """Why ``child`` can't name a new subgroup of ``parent`` (its address PARENT+CHILD@)."""
    from messageserver.addresses import COMMANDS, TOKEN_COMMANDS

    if parent.parent_id is not None:
        return _("A subgroup can't have subgroups of its own.")
    if not child:
        return _("Choose a name.")
    if not NAME_RE.match(child):
        return _("Use up to 64 lower-case letters, digits, hyphens and underscores, starting "
                 "and ending with a letter or a digit.")
    if child in COMMANDS or child in TOKEN_COMMANDS or child == "bounce":
        return _("“%(name)s” is a mail command word; choose another name.") % {"name": child}
    if Group.objects.filter(name=f"{parent.name}+{child}").exists():
        return _("%(parent)s has a subgroup named “%(name)s” already.") % {
            "parent": parent.display_title, "name": child}
    return ""


def create_subgroup(parent: Group, *, child: str, title: str, description: str,
                    owner_email: str, owner_name: str = "") -> Group:
    """A subgroup with its parent's privacy and join policy; the creator its first owner."""
    try:
        with transaction.atomic():
            group = Group.objects.create(
                name=f"{parent.name}+{child}", parent=parent, title=title,
                description=description, privacy=parent.privacy,
                join_policy=parent.join_policy, posting_policy=parent.posting_policy)
            entry = f"{owner_name} <{owner_email}>" if owner_name else owner_email
            add_members(group, [entry], role=Membership.Role.OWNER)
    except IntegrityError:
        raise NameTaken(f"{parent.name}+{child}") from None
    return group
