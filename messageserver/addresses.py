"""What an address at GROUPS_DOMAIN means: the table in docs/design.md, in code.

``parse(address)`` turns ``NAME+command+token@domain`` into a Destination; it
does not look at the database. ``resolve`` adds the group lookup, and is what
both the RCPT check and the inbound pipeline call, so they can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from messageserver.outcomes import ForeignDomain, UnknownRecipient
from platformcore.env import get_env

# ``NAME+WORD@`` -> the delivery mode (Membership.Delivery's value) it sets: one
# command for every mode the site offers (tests check none is missing).
DELIVERY_COMMANDS: dict[str, str] = {
    "single": "individual",
    "fullfeatured": "digest",
    "digest": "digest",
    "plaindigest": "plain_digest",
    "summary": "summary",
    "special": "special",
    "nomail": "nomail",
}
COMMANDS = frozenset({
    "subscribe", "unsubscribe", "owner", "help", "request", "join", "leave",
    *DELIVERY_COMMANDS,
})
TOKEN_COMMANDS = frozenset({"approve", "reject", "confirm"})
BOUNCE_LOCALPART = "bounce"


class NoSuchGroup(UnknownRecipient):
    """A well-formed group address whose group does not exist."""


@dataclass(frozen=True)
class Destination:
    kind: str  # post | command | moderation | confirm | bounce
    group: str = ""
    command: str = ""
    token: str = ""


def split(address: str) -> tuple[str, str]:
    _, addr = parseaddr(address)
    addr = (addr or address).strip().strip("<>")
    if "@" not in addr:
        raise UnknownRecipient(f"{address!r} is not an email address")
    local, domain = addr.rsplit("@", 1)
    return local.lower(), domain.lower().rstrip(".")


def parse(address: str) -> Destination:
    local, domain = split(address)
    if domain != get_env().groups_domain:
        raise ForeignDomain(f"we do not relay for {domain}")
    parts = local.split("+")
    if parts[0] == BOUNCE_LOCALPART:
        if len(parts) != 2 or not parts[1]:
            raise UnknownRecipient("malformed bounce address")
        return Destination("bounce", token=parts[1])
    name = parts[0]
    if not name:
        raise UnknownRecipient("empty local part")
    if len(parts) > 1 and parts[1] and parts[1] not in COMMANDS | TOKEN_COMMANDS:
        # PARENT+CHILD[+command[+token]]: a subgroup (its name can't be a command word)
        name = f"{parts[0]}+{parts[1]}"
        parts = [name, *parts[2:]]
    if len(parts) == 1:
        return Destination("post", group=name)
    command = parts[1]
    if command in COMMANDS and len(parts) == 2:
        command = {"join": "subscribe", "leave": "unsubscribe"}.get(command, command)
        return Destination("command", group=name, command=command)
    if command in TOKEN_COMMANDS and len(parts) == 3 and parts[2]:
        kind = "confirm" if command == "confirm" else "moderation"
        return Destination(kind, group=name, command=command, token=parts[2])
    raise UnknownRecipient(f"no such address: {local}@{domain}")


def resolve(address: str) -> tuple[Destination, object | None]:
    """Parse and look the group up; raise UnknownRecipient when it doesn't exist."""
    from groups.models import Group

    dest = parse(address)
    if dest.kind == "bounce":
        return dest, None
    group = Group.objects.filter(name=dest.group).first()
    if group is None:
        raise NoSuchGroup(f"no group named {dest.group}")
    return dest, group
