"""The one way the platform writes a header field, and reads a display name back.

Every header value the platform writes (subjects with their tag, From rewritten
for DMARC with a display name in any script, List-*, notices, digests, command
replies, feed posts, Karl's own mail) is folded here by the email package's
RFC 5322 policy: lines of at most 78 characters joined by CRLF and a space,
non-ASCII text as RFC 2047 encoded-words. (Raw UTF-8 headers of a poster's
original reach an SMTPUTF8 relay as they came; Karl ``reencode``s them for
any other relay.)
Nothing is folded by hand, and Karl's contract accepts exactly what ``value``
produces (``problem`` is its check), so a header we write can never be refused.

It lives in the Django-free core (platformcore) because Karl imports it as
well as messageserver and the jobs: it must never import Django or groups/.
"""

from __future__ import annotations

import email.policy
import re
from email.header import Header, decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import formataddr
from functools import lru_cache

# policy.default with CRLF line ends; utf8=False, so non-ASCII becomes RFC 2047.
POLICY = email.policy.SMTP

CRLF = "\r\n"
MAX_LINE = 998  # RFC 5322 §2.1.1, without the CRLF
_FOLD = re.compile(r"\r\n(?=[ \t])")


def clean(value: str) -> str:
    """One line of text: line breaks, tabs and other controls become single spaces."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())


def fold(name: str, value: str) -> str:
    """The whole field, ``Name: value`` CRLF, folded by the email package's policy.

    ``value`` is text (a subject, an address list, ...); non-ASCII is written as
    RFC 2047 encoded-words.
    The policy's ``header_factory`` parses the value first, so address headers
    get their display names encoded as phrases and their addresses left alone.
    ASCII text is folded at blanks by ``email.header.Header`` and never encoded.
    """
    text = clean(value)
    if text.isascii():
        # Nothing to encode: fold at blanks only. The policy would RFC 2047-encode
        # a word too long for a line (a URL, a Message-ID), which no reader of
        # List-Unsubscribe or References decodes; RFC 5322 keeps it whole.
        return f"{name}: {Header(text, 'us-ascii', header_name=name).encode(linesep=CRLF)}{CRLF}"
    return POLICY.header_factory(name, text).fold(policy=POLICY)


def value(name: str, text: str) -> str:
    """The folded value alone (after ``Name:``, without the last CRLF): a Karl job header."""
    folded = fold(name, text)
    return folded[len(name) + 1:].removesuffix("\r\n").removeprefix(" ")


@lru_cache(maxsize=256)
def _fold_shape(name: str, before: str, length: int, after: str) -> tuple[str, str] | None:
    """``value`` of ``before + X + after`` around a word X of ``length`` letters.

    Folding happens at blanks and ``,;`` only, so any word of that length
    without them folds the same. None when no letter is free to stand in for
    the word or the word was split (it never is: it holds none of the
    characters folded at).
    """
    letter = next((c for c in "xqzjkvw" if c not in before + after), "")
    word = letter * length
    folded = value(name, before + word + after)
    if not letter or folded.count(word) != 1:
        return None
    head, _, tail = folded.partition(word)
    return head, tail


def value_around(name: str, before: str, word: str, after: str) -> str:
    """``value(name, before + word + after)`` for one ``word`` of many (a per-recipient URL).

    The fold is taken from ``_fold_shape``, worked out once per ``before``,
    ``after`` and length of ``word``: a fan-out folds one List-Unsubscribe per
    recipient, and folding each with the email package was most of its CPU.
    Anything but plain ASCII goes through ``value`` itself.
    """
    if any(c in word for c in " \t,;") or not (word.isascii() and word.isprintable()
                                               and (before + after).isascii()):
        return value(name, before + word + after)
    shape = _fold_shape(name, before, len(word), after)
    if shape is None:
        return value(name, before + word + after)
    return shape[0] + word + shape[1]


def mailbox(display_name: str, address: str) -> str:
    """A mailbox as text for an address header, the display name quoted as RFC 5322 needs."""
    name = clean(display_name)
    try:
        return str(Address(display_name=name, addr_spec=address))
    except (ValueError, IndexError):  # an address the header registry won't take
        return formataddr((name, address))


def message() -> EmailMessage:
    """A new message whose headers are folded by ``POLICY`` when it is written out."""
    return EmailMessage(policy=POLICY)


def put(msg: Message, name: str, text: str) -> None:
    """Set one header (replacing any earlier one), folded by ``POLICY`` as ``fold`` does.

    Use it on messages from ``message()``; a compat32 message is given the value
    folded by ``value``, which its generator writes out unchanged.
    """
    del msg[name]
    if isinstance(msg.policy, email.policy.EmailPolicy):
        msg[name] = clean(text)  # the policy folds it when the message is written
    else:  # a compat32 message (MIME digests) takes the value folded already
        msg[name] = value(name, text)


def problem(raw: str) -> str:
    """Why a header value can't go on the wire as given, or "" when it can.

    A value is one line, or lines folded the RFC 5322 way (CRLF then a space or
    a tab); no bare CR or LF, no line of blanks only. (Long lines are fine:
    Karl folds them with ``fold``.) Checked with a few C-level passes: Karl
    checks every recipient's List-Unsubscribe (folded) when a job comes in and
    again when its copy is written.
    """
    if "\x00" in raw:
        return "header values may not contain NUL"
    if "\r" not in raw and "\n" not in raw:  # one line (most values): nothing else to check
        return ""
    unfolded = _FOLD.sub("", raw)
    if "\r" in unfolded or "\n" in unfolded:
        return ("header values may contain line breaks only as folding "
                "(CRLF followed by a space or tab)")
    if _BLANK_FOLDED_LINE.search(raw):
        return "a folded header value may not have an empty line"
    return ""


# a folded line of whitespace only (every line break is a fold by then); \s is what
# str.isspace calls whitespace
_BLANK_FOLDED_LINE = re.compile(r"\r\n\s+(?=\r\n|\Z)")
_LONG_LINE = re.compile(rf"[^\r\n]{{{MAX_LINE - 100}}}")


def ready(raw: str) -> bool:
    """Whether ``raw`` can go on the wire as it is: ASCII, no line near 998 characters."""
    return raw.isascii() and not problem(raw) and (
        len(raw) < MAX_LINE - 100 or not _LONG_LINE.search(raw))


def decode(raw: str) -> str:
    """A raw header value as text, RFC 2047 §6.2-correct: no space between adjacent words.

    (The email package's address parser inserts one between adjacent
    encoded-words of a display name; ``email.header.decode_header`` does not.)
    """
    try:
        text = str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        text = raw
    return " ".join(text.split())


def reencode(name: str, raw: bytes) -> bytes:
    """A field's raw value (8-bit, as received) rewritten as RFC 2047 for a 7-bit relay.

    Bytes that are not UTF-8 are read as Latin-1, so nothing is lost; the
    result is ``fold`` of the text, without the name and the last CRLF.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return value(name, text).encode("ascii")
