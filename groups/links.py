"""Absolute URLs that we put in mail: built here only, each signed where it acts.

Views are named in groups/web/urls.py; these functions are the only place that
joins SITE_URL, a view name and a token, so a link in a footer, a notice or a
List-Unsubscribe header always matches the view that checks it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from groups import tokens

if TYPE_CHECKING:
    from groups.models import Membership

WEB = "groups.urls"  # messageserver runs with its own urlconf; links are always the site's


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def around(view: str, *args: object, last: str, urlconf: str | None = None) -> tuple[str, str]:
    """The path of ``view`` split around its last argument, given as the placeholder ``last``.

    reverse() costs about 55 us; a page or a fan-out that needs the same URL
    with a thousand different last arguments reverses once and fills them in.
    """
    path = reverse(view, urlconf=urlconf, args=[*args, last])
    before, _, after = path.rpartition(last)  # the last: earlier arguments may hold it too
    return before, after


_TOKEN = "0token0"  # tokens are [0-9a-z-], so this cannot occur around one


@lru_cache(maxsize=64)
def _around_token(view: str, site_url: str) -> tuple[str, str]:
    """A signed link's URL before and after its token (two per recipient of a fan-out)."""
    before, after = around(view, last=_TOKEN, urlconf=WEB)
    return site_url + before, after


def _signed_link(view: str, token: str) -> str:
    before, after = _around_token(view, settings.SITE_URL)
    return before + token + after


def group_url(group_name: str) -> str:
    return absolute(reverse("group_home", urlconf=WEB, args=[group_name]))


def topic_url(group_name: str, topic_id: int) -> str:
    return absolute(reverse("topic", urlconf=WEB, args=[group_name, topic_id]))


def message_url(group_name: str, number: int) -> str:
    return absolute(reverse("message", urlconf=WEB, args=[group_name, number]))


def reply_url(group_name: str, number: int) -> str:
    return absolute(reverse("reply", urlconf=WEB, args=[group_name, number]))


def unsubscribe_url(membership_id: int) -> str:
    """One-click unsubscribe (RFC 8058): GET confirms, POST unsubscribes."""
    return _signed_link("unsubscribe", tokens.make(tokens.UNSUBSCRIBE, membership_id))


def mute_topic_url(membership_id: int, topic_id: int) -> str:
    return _signed_link("mute_topic", tokens.make(tokens.MUTE_TOPIC, membership_id, topic_id))


MODERATION_LINK_HOURS = 72


def moderation_url(held_id: int, action: str, hours: int = MODERATION_LINK_HOURS) -> str:
    """A moderator's signed link for one decision on a held message.

    The action is inside the token (an approve link can't be turned into a
    reject), the token expires, and the held message's state makes it one-use.
    """
    if action not in ("approve", "reject"):
        raise ValueError(f"unknown moderation action {action!r}")
    return _signed_link("moderate_link", tokens.make(tokens.MODERATE_LINK, held_id, action,
                                                     ttl=hours * 3600))


def confirm_subscription_url(membership_id: int) -> str:
    return _signed_link("confirm_subscription", tokens.make(tokens.CONFIRM_SUBSCRIBE, membership_id))


def confirm_delivery_url(token: str) -> str:
    """The web twin of a delivery confirmation's reply address (same CONFIRM_DELIVERY token)."""
    return _signed_link("confirm_delivery", token)


def restore_membership_url(membership: Membership, days: int = 3) -> str:
    """Undoes the removal (or bouncing spell) current now, and nothing later."""
    return _signed_link("restore_membership", tokens.make(
        tokens.RESTORE, membership.pk, membership.removal_serial, ttl=days * 86400))


def _with_next(url: str, next_url: str) -> str:
    """``next`` rides along unsigned: the view only follows it to a page of this site."""
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def confirm_email_url(user_id: int, days: int = 3, next_url: str = "") -> str:
    """A sign-up's confirmation; ``next_url`` is where the person was going (a join page)."""
    return _with_next(_signed_link("confirm_email", tokens.make(
        tokens.CONFIRM_EMAIL, user_id, ttl=days * 86400)), next_url)


LOGIN_LINK_MINUTES = 15


def login_link_url(user_id: int, last_login_stamp: str, next_url: str = "") -> str:
    """A one-time log-in link: short-lived, and dead once any log-in moves ``last_login``."""
    return _with_next(_signed_link("login_link", tokens.make(
        tokens.LOGIN_LINK, user_id, last_login_stamp, ttl=LOGIN_LINK_MINUTES * 60)), next_url)


def verify_email_url(useremail_id: int, days: int = 3) -> str:
    """Proof that a further address of an account is its owner's (groups.accountemails)."""
    return _signed_link("verify_email", tokens.make(tokens.VERIFY_EMAIL, useremail_id,
                                                    ttl=days * 86400))


def attachment_url(group_name: str, attachment_id: int, filename: str) -> str:
    """An archived attachment's page (access checked there, as for the message itself)."""
    return absolute(reverse("attachment", urlconf=WEB, args=[group_name, attachment_id,
                                                             filename or "attachment"]))
