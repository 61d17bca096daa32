"""What a person types into the search box, as terms every backend can express.

Words are ANDed; "double quotes" make a phrase; a leading minus excludes a
word or phrase; a trailing * matches a prefix. Anything else (operators,
brackets, column filters) is taken literally, so no input can make an engine
raise a syntax error or read a field it was not meant to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+(?:[.'’@-]\w+)*", re.UNICODE)


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # more than one: a phrase
    negated: bool = False
    prefix: bool = False


def parse(text: str) -> list[Term]:
    terms: list[Term] = []
    for m in _TOKEN.finditer(text or ""):
        if m.group(2) is not None or m.group(1):
            negated, body, prefix = bool(m.group(1)), m.group(2) or "", False
        else:
            token = m.group(3)
            negated = token.startswith("-") and len(token) > 1
            body = token[1:] if negated else token
            prefix = body.endswith("*")
        words = tuple(w for w in _WORD.findall(body))
        if words:
            terms.append(Term(words, negated, prefix and len(words) == 1))
    return terms


def positive(terms: list[Term]) -> list[Term]:
    return [t for t in terms if not t.negated]


def to_fts5(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: each word a quoted string, so none is an operator."""
    def quote(t: Term) -> str:
        phrase = '"' + " ".join(w.replace('"', '""') for w in t.words) + '"'
        return phrase + ("*" if t.prefix else "")

    pos = [quote(t) for t in terms if not t.negated]
    neg = [quote(t) for t in terms if t.negated]
    if not pos:
        return ""
    expr = " AND ".join(pos)
    if neg:
        expr = f"({expr}) NOT ({' OR '.join(neg)})"
    return expr


def to_simple_query_string(terms: list[Term]) -> str:
    """The same terms for Elasticsearch's simple_query_string (default operator AND)."""
    parts = []
    for t in terms:
        body = " ".join(t.words)
        body = f'"{body}"' if len(t.words) > 1 else body + ("*" if t.prefix else "")
        parts.append(("-" if t.negated else "") + body)
    return " ".join(parts)


def to_tsquery(terms: list[Term]) -> tuple[str, list[str]]:
    """A PostgreSQL tsquery expression built from plainto/phraseto_tsquery pieces, and params."""
    pieces, params = [], []
    for t in terms:
        text = " ".join(t.words)
        if len(t.words) > 1:
            piece = "phraseto_tsquery('english', %s)"
        elif t.prefix:
            piece = "to_tsquery('english', %s)"
            text = _pg_lexeme(text) + ":*"
        else:
            piece = "plainto_tsquery('english', %s)"
        pieces.append(("!!" if t.negated else "") + piece)
        params.append(text)
    return " && ".join(pieces), params


def _pg_lexeme(word: str) -> str:
    """A single word made safe for to_tsquery (letters, digits, underscores)."""
    return re.sub(r"\W+", "", word) or "x"
