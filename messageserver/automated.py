"""Is this mail automated? The one check every path asks before it answers or posts.

A machine must never get an answer from us, or we risk two robots talking
forever: a vacation responder answering our command reply, a bounce posted to
a group, two groups subscribed to each other. RFC 3834 names the signals
(Auto-Submitted other than "no", Precedence bulk/junk/list, an empty envelope
sender); mailer-daemons and the loop headers we stamp ourselves (List-Id and
X-Loop at GROUPS_DOMAIN) complete the list.

``reason(inbound, for_post=...)`` returns why the message is automated, or "".
A post may legitimately come from another mailing list (a group subscribed to
an outside list), so for posts Precedence: list and a foreign List-Id are
allowed; our own domain's List-Id or X-Loop never are. This module only
decides; it never sends, drops or logs anything itself.
"""

from __future__ import annotations

import re

from messageserver.inbound import InboundMail
from platformcore.env import get_env

# Senders that are machines whatever the headers say; the first set never posts either.
DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
ROBOTS = DAEMONS | frozenset({
    "noreply", "no-reply", "do-not-reply", "donotreply", "bounce", "bounces", "listserv",
    "majordomo", "mailman",
})
AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond")
_LIST_ID = re.compile(r"<([^<>\s]+)>")


def _domain() -> str:
    return get_env().groups_domain.lower()


def list_ids(inbound: InboundMail) -> list[str]:
    """Every List-Id the message carries, as the bare id (``name.domain``)."""
    found = []
    for value in inbound.parsed.headers("List-Id"):
        match = _LIST_ID.search(value)
        found.append((match.group(1) if match else value.strip()).lower())
    return [f for f in found if f]


def ours(inbound: InboundMail) -> str:
    """Our own loop marks: a List-Id or X-Loop of any group at GROUPS_DOMAIN."""
    domain = _domain()
    for list_id in list_ids(inbound):
        if list_id.endswith("." + domain):
            return f"it carries our List-Id <{list_id}>"
    for loop in inbound.parsed.headers("X-Loop"):
        if loop.strip().lower().rstrip(">").endswith("@" + domain):
            return f"it carries our X-Loop {loop.strip()}"
    return ""


def _is_robot(address: str, *, strict: bool) -> bool:
    """A mailer-daemon (``strict``: only those) or any list robot / no-reply address."""
    local = address.rsplit("@", 1)[0].lower() if "@" in address else address.lower()
    base = local.split("+", 1)[0]
    if strict:
        return base in DAEMONS
    return base in ROBOTS or base.startswith("owner-") or base.endswith(
        ("-bounces", "-request", "-owner"))


def reason(inbound: InboundMail, *, for_post: bool = False) -> str:
    """Why this mail must not be answered (or posted), or "" when a person sent it."""
    loop = ours(inbound)
    if loop:
        return f"loop: {loop}"
    if not inbound.mail_from.strip():
        return "automated: empty envelope sender (a bounce or an auto-reply)"
    parsed = inbound.parsed
    auto = parsed.header("Auto-Submitted").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return f"automated: Auto-Submitted: {auto}"
    for name in AUTOREPLY_HEADERS:
        if parsed.header(name):
            return f"automated: {name} header"
    precedence = parsed.header("Precedence").strip().lower()
    if precedence in ("bulk", "junk") or (precedence == "list" and not for_post):
        return f"automated: Precedence: {precedence}"
    for address in (inbound.mail_from, parsed.from_email):
        if address and _is_robot(address, strict=for_post):
            return f"automated: sent by {address}"
    if not for_post and list_ids(inbound):
        return f"automated: mail from the list <{list_ids(inbound)[0]}>"
    return ""


def is_automated(inbound: InboundMail, *, for_post: bool = False) -> bool:
    return bool(reason(inbound, for_post=for_post))
