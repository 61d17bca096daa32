"""Absolute URLs that we put in mail: built here only, each signed where it acts.

Views are named in groups/web/urls.py; these functions are the only place that
joins SITE_URL, a view name and a token, so a link in a footer, a notice or a
List-Unsubscribe header always matches the view that checks it.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from groups import tokens

WEB = "groups.urls"  # messageserver runs with its own urlconf; links are always the site's


def absolute(path: str) -> str:
    return settings.SITE_URL + path


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
    token = tokens.make(tokens.UNSUBSCRIBE, membership_id)
    return absolute(reverse("unsubscribe", urlconf=WEB, args=[token]))


def mute_topic_url(membership_id: int, topic_id: int) -> str:
    token = tokens.make(tokens.MUTE_TOPIC, membership_id, topic_id)
    return absolute(reverse("mute_topic", urlconf=WEB, args=[token]))


def moderation_url(held_id: int, action: str) -> str:
    """A moderator's signed approve/reject link for a held message."""
    token = tokens.make(tokens.MODERATE, held_id)
    return absolute(reverse("moderate_link", urlconf=WEB, args=[token, action]))


def confirm_subscription_url(membership_id: int) -> str:
    token = tokens.make(tokens.CONFIRM_SUBSCRIBE, membership_id)
    return absolute(reverse("confirm_subscription", urlconf=WEB, args=[token]))


def restore_membership_url(membership_id: int, days: int = 3) -> str:
    token = tokens.make(tokens.RESTORE, membership_id, ttl=days * 86400)
    return absolute(reverse("restore_membership", urlconf=WEB, args=[token]))


def confirm_email_url(user_id: int, days: int = 3) -> str:
    token = tokens.make(tokens.CONFIRM_EMAIL, user_id, ttl=days * 86400)
    return absolute(reverse("confirm_email", urlconf=WEB, args=[token]))
