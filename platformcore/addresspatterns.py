"""Address patterns for bans and sender rules: an address, a glob, or a regular expression.

As in Mailman 3's ban and accept/hold/reject/discard lists: an entry that
starts with ``^`` is a regular expression (matched against the whole
lower-cased address, ``re.fullmatch``); one with ``*`` or ``?`` is a glob
(``*@spam.example``); anything else is one exact address. Pure functions,
no Django: the web validates with ``check`` and messageserver matches with
``matches``, so both read a pattern the same way.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

ADDRESS, GLOB, REGEX = "address", "glob", "regex"
MAX_LENGTH = 254  # a pattern, like an address, stays short (bounded regex work)


class BadPattern(ValueError):
    """The pattern can't be used; the message says why, for a form error."""


def kind(pattern: str) -> str:
    """ADDRESS, GLOB or REGEX, by how the pattern is written."""
    if pattern.startswith("^"):
        return REGEX
    if any(c in pattern for c in "*?["):
        return GLOB
    return ADDRESS


def normalize(pattern: str) -> str:
    """The stored form: trimmed; addresses and globs lower-cased (addresses compare so)."""
    pattern = pattern.strip()
    return pattern if kind(pattern) == REGEX else pattern.lower()


def check(pattern: str) -> str:
    """The normalized pattern, or BadPattern saying what is wrong with it."""
    pattern = normalize(pattern)
    if not pattern:
        raise BadPattern("Give an address, a pattern such as *@spam.example, or a regular "
                         "expression starting with ^.")
    if len(pattern) > MAX_LENGTH:
        raise BadPattern(f"At most {MAX_LENGTH} characters.")
    k = kind(pattern)
    if k == REGEX:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise BadPattern(f"Not a valid regular expression: {exc}.") from exc
    elif "@" not in pattern or any(c.isspace() for c in pattern):
        raise BadPattern("An address or pattern has an @ and no spaces, e.g. "
                         "someone@example.org or *@spam.example.")
    return pattern


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    if kind(pattern) == REGEX:
        return re.compile(pattern, re.IGNORECASE)
    return re.compile(fnmatch.translate(pattern))


def matches(pattern: str, address: str) -> bool:
    """Whether ``address`` is one ``pattern`` names (a broken pattern names nobody)."""
    address = address.strip().lower()
    if not address:
        return False
    if kind(pattern) == ADDRESS:
        return pattern.lower() == address
    try:
        return _compiled(pattern).fullmatch(address) is not None
    except re.error:
        return False
