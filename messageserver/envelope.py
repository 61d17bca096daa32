"""The envelope sender in one form, whichever edge the mail came in by.

RFC 5321 writes the null reverse-path as ``MAIL FROM:<>``; aiosmtpd hands it
on as the literal ``"<>"``, webhook providers send ``""``, ``"<>"`` or
nothing, and a real sender may arrive with or without its angle brackets.
Every rule (RFC 3834 auto-replies, bounces, membership by envelope) compares
against ``""`` for the null sender, so each edge (smtpd, the inbound webhook,
POST /v1/inbound) calls ``reverse_path`` before anything else sees the value.

Pure: no Django, so smtpd can import it.
"""

from __future__ import annotations

NULL_SENDER = ""


def reverse_path(value: str | None) -> str:
    """The envelope sender as a bare address, or ``NULL_SENDER`` ("") for ``<>``.

    >>> reverse_path("<>"), reverse_path(" < > "), reverse_path(None)
    ('', '', '')
    >>> reverse_path("<Bob@Example.org>")
    'Bob@Example.org'
    """
    text = (value or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text or NULL_SENDER


def is_null(value: str | None) -> bool:
    """True for the null reverse-path in any of its spellings."""
    return reverse_path(value) == NULL_SENDER
