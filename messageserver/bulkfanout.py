"""Bulk delivery of a group's post (``Group.bulk_delivery``): one copy for every member.

Mailman's non-personalised delivery, for very large announcement groups: who
gets the post is decided exactly as for personal delivery (fanout.recipients),
but the Karl job is of kind "bulk" (karl.bulk): one copy, signed once, sent
to up to 100 members of a destination domain per SMTP transaction. So the
copy carries nothing personal:

- the group's footer is rendered with the variables that are the same for
  everybody (fanout.footer_vars); its personal ones get impersonal stand-ins
  (``unsubscribe_url`` is the group's unsubscribe address, ``mute_url`` the
  topic's page, ``name`` and ``email`` are empty);
- List-Unsubscribe is ``<mailto:GROUP+unsubscribe@domain>`` only (no one-click
  URL, which would have to name the member, so no List-Unsubscribe-Post);
- the envelope sender is the group's one bounce address (``bounce+TOKEN@``,
  the token naming the group, not a member): bounces are matched to members
  by parsing the report (bouncehandling.handle_group_bounce).

The fan-out continuation (messageserver.fanoutcontinuation) cuts the post's
recipients, fixed when it was accepted, into jobs after smtpd's 250, growing
as personal ones do (messageserver.fanoutslices: FANOUT_FIRST_BULK_JOB_RECIPIENTS,
then four times as many, up to FANOUT_BULK_JOB_RECIPIENTS); each job's
recipients are sorted by domain, so a domain's members stay together and share
transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from groups import tokens
from groups.models import Group, Message
from messageserver import fanout


def group_bounce_address(group: Group) -> str:
    """The group's one envelope sender for bulk copies (no VERP: no member in it)."""
    return f"bounce+{tokens.make(tokens.GROUP_BOUNCE, group.pk)}@{settings.GROUPS_DOMAIN}"


def impersonal_vars(message: Message) -> dict[str, Any]:
    """The footer's variables for a copy everybody shares (no member's links in it)."""
    common = fanout.footer_vars(message)
    return {**common, "name": "", "email": "",
            "unsubscribe_url": f"mailto:{message.group.address('unsubscribe')}",
            "mute_url": common["topic_url"]}


def _domain_order(member: fanout.Recipient) -> tuple[str, str]:
    local, _, domain = member.email.rpartition("@")
    return domain.lower(), local.lower()


def build_bulk_job(message: Message, raw: bytes,
                   members: Sequence[fanout.Recipient],
                   extra_headers: list[list[str]] | None = None) -> dict[str, Any]:
    """The Karl job (kind "bulk") sending one copy of ``message`` to ``members``."""
    group = message.group
    # the headers, removals, footer, events and meta every post job has
    job = fanout.build_job(message, raw, [], extra_headers)
    job_headers = [h for h in job["headers"] if h[0].lower() != "list-unsubscribe-post"]
    job_headers += fanout.headers([
        ("List-Unsubscribe", f"<mailto:{group.address('unsubscribe')}>")])
    job.update({
        "kind": "bulk",
        "mail_from": group_bounce_address(group),
        "headers": job_headers,
        "vars": impersonal_vars(message),
        "recipients": [{"address": m.email} for m in sorted(members, key=_domain_order)],
    })
    job["meta"] = {**job["meta"], "delivery": "bulk"}
    return job
