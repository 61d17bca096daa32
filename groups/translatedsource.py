"""A translated template's source, in the active language, without the i18n tags.

The notices editor offers an owner the site's default text to start from; that text
lives in templates/email/*.txt wrapped in ``{% translate %}`` and
``{% blocktranslate %}`` tags, which an owner's wording may not use (and should not
have to read). This turns each such tag into its translation, with the
placeholders written back as the ``{{ variable }}`` they stand for, so the owner
edits plain text in their own language with the same variables.
"""

from __future__ import annotations

import re

from django.template.base import Lexer, TokenType
from django.utils import translation

# not spelled gettext(...): makemessages would take the argument for a message to translate
lookup = translation.gettext

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_TRANSLATED_LITERAL = re.compile(r'_\("((?:[^"\\]|\\.)*)"\)')
_I18N_LOADS = re.compile(r"^load(\s+\w+)+$")


def _literal(expression: str) -> str:
    """``x|default:_("(no subject)")`` -> ``x|default:"(kein Betreff)"``."""
    return _TRANSLATED_LITERAL.sub(lambda m: '"' + lookup(m.group(1)) + '"', expression)


def _unquote(bit: str) -> str:
    return bit[1:-1] if len(bit) >= 2 and bit[0] == bit[-1] and bit[0] in "\"'" else bit


def translated_source(source: str) -> str:
    """``source`` with every translate/blocktranslate tag replaced by its translation."""
    out: list[str] = []
    tokens = Lexer(source).tokenize()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.token_type == TokenType.TEXT:
            out.append(token.contents)
        elif token.token_type == TokenType.VAR:
            out.append("{{ " + token.contents + " }}")
        elif token.token_type == TokenType.COMMENT:
            out.append("{# " + token.contents + " #}")
        else:
            bits = token.split_contents()
            if bits[0] in ("translate", "trans"):
                out.append(lookup(_unquote(bits[1])))
            elif bits[0] in ("blocktranslate", "blocktrans"):
                names = {key: _literal(value) for key, _, value in
                         (b.partition("=") for b in bits[1:] if "=" in b)}
                msgid: list[str] = []
                while tokens[i].token_type != TokenType.BLOCK or not \
                        tokens[i].contents.startswith("endblocktrans"):
                    part = tokens[i]
                    if part.token_type == TokenType.VAR:
                        msgid.append(f"%({part.contents})s")
                    else:
                        msgid.append(part.contents.replace("%", "%%"))
                    i += 1
                i += 1  # the end tag
                text = lookup("".join(msgid))
                out.append(_PLACEHOLDER.sub(
                    lambda m, names=names: "%" if m.group(0) == "%%"
                    else "{{ " + names.get(m.group(1), m.group(1)) + " }}", text))
            elif _I18N_LOADS.match(token.contents):
                continue
            else:
                out.append("{% " + token.contents + " %}")
    return "".join(out)
