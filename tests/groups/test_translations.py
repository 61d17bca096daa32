"""The translations are complete, compiled, and every string of the templates is translatable.

- Each locale/<lang>/LC_MESSAGES/django.po has no untranslated and no fuzzy entry
  (`make messages` adds new strings untranslated; translate them, then run it again).
- Each compiled django.mo holds exactly what its .po says (the site reads only the .mo).
- No template outside the list below shows text outside {% translate %} and
  {% blocktranslate %}: visible text, and attributes a person reads (aria-label,
  placeholder, title, alt). Exceptions are listed one by one, with why.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "locale"
TEMPLATES = ROOT / "templates"
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]

# Templates not wrapped yet (none: every template is).
NOT_YET: set[str] = set()
# Text that stays as it is, in every language: (template, the text).
UNTRANSLATED = {
    # RFC 1153's burstable headers of the plain digest: digest readers look for these
    ("email/digest_plain.txt", "Date:"), ("email/digest_plain.txt", "From:"),
    ("email/digest_plain.txt", "Subject:"),
}


# --- the .po files ----------------------------------------------------------------------

@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (obsolete "#~" ones ignored), header included."""
    entries: list[Entry] = []
    current: Entry | None = None
    key = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            current = current if current is not None and not current.msgid and \
                not current.msgstr else Entry(line=number)
            if current not in entries:
                entries.append(current)
            current.flags |= {f.strip() for f in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$', line)
        if match:
            key, text = match.group(1), ast.literal_eval(match.group(2))
            if key in ("msgid", "msgctxt") and (current is None or current.msgstr):
                current = Entry(line=number)
                entries.append(current)
            assert current is not None
            if key.startswith("msgstr"):
                current.msgstr.append(text)
            elif key == "msgid":
                current.msgid = text
            elif key == "msgid_plural":
                current.msgid_plural = text
            continue
        assert line.startswith('"'), f"{path}:{number}: can't read {raw!r}"
        assert current is not None
        text = ast.literal_eval(line)
        if key.startswith("msgstr"):
            current.msgstr[-1] += text
        elif key == "msgid":
            current.msgid += text
        elif key == "msgid_plural":
            current.msgid_plural += text
    return entries


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(language):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    entries = read_po(po)
    header, messages = entries[0], entries[1:]
    assert header.msgid == "" and "fuzzy" not in header.flags, "the header must not be fuzzy"
    assert f"Language: {language}\n" in header.msgstr[0]
    assert len(messages) > 500
    fuzzy = [f"{po.name}:{e.line} {e.msgid!r}" for e in messages if "fuzzy" in e.flags]
    empty = [f"{po.name}:{e.line} {e.msgid!r}" for e in messages
             if not e.msgstr or any(not s.strip() for s in e.msgstr)]
    assert not fuzzy, f"fuzzy in {language}: " + "; ".join(fuzzy[:20])
    assert not empty, f"untranslated in {language}: " + "; ".join(empty[:20])


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_matches_the_po(language):
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in read_po(folder / "django.po")[1:]:
        if entry.msgid_plural:
            got = [compiled.ngettext(entry.msgid, entry.msgid_plural, n) for n in (1, 2)]
            if got != [entry.msgstr[0], entry.msgstr[-1]]:
                stale.append(entry.msgid)
        elif compiled.gettext(entry.msgid) != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert not stale, f"django.mo of {language} is stale (run `make messages`): {stale[:10]}"


def test_placeholders_survive_translation():
    """A translation names the same %(...)s / {...} placeholders as its original."""
    pattern = re.compile(r"%\(\w+\)[sd]|\{\w+\}|\{\{ \w+ \}\}")
    wrong = []
    for language in LANGUAGES:
        for entry in read_po(LOCALE / language / "LC_MESSAGES" / "django.po")[1:]:
            wanted = set(pattern.findall(entry.msgid_plural or entry.msgid))
            for text in entry.msgstr:
                if set(pattern.findall(text)) - wanted or \
                        (not entry.msgid_plural and set(pattern.findall(text)) != wanted):
                    wrong.append(f"{language}: {entry.msgid!r}")
    assert not wrong, wrong[:10]


# --- the templates ----------------------------------------------------------------------

READ_ATTRIBUTES = re.compile(r'\b(?:aria-label|placeholder|title|alt)="([^"]*)"')
ENTITY = re.compile(r"&[a-z]+;|&#\d+;")
TAG = "\x00"  # where a template tag or variable stood (translated text included)


def visible_text(path: Path) -> list[str]:
    """Text a reader sees in ``path`` outside translate tags.

    The template is flattened first (every tag and variable, and everything inside
    {% blocktranslate %}, becomes one placeholder), so HTML tags split by template tags
    are still seen whole."""
    flat: list[str] = []
    inside = False
    for token in Lexer(path.read_text(encoding="utf-8")).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.split_contents()[0]
            inside = name in ("blocktranslate", "blocktrans") or (
                inside and name not in ("endblocktranslate", "endblocktrans"))
        flat.append(token.contents if token.token_type == TokenType.TEXT and not inside
                    else TAG)
    text = "".join(flat)
    found: list[str] = []
    if path.suffix == ".html":
        found += [v.replace(TAG, "").strip() for v in READ_ATTRIBUTES.findall(text)
                  if re.search(r"[A-Za-z]{2,}", v.replace(TAG, " "))]
        text = re.sub(r"<!--.*?-->", TAG, text, flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", TAG, text, flags=re.S)
        text = re.sub(r"<[^>]*>", TAG, text)
        text = ENTITY.sub(TAG, text)
    found += [chunk.strip() for chunk in re.split(r"\n|\x00", text)
              if re.search(r"[A-Za-z]{2,}", chunk)]
    return found


def owned_templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt")
                  and p.relative_to(TEMPLATES).as_posix() not in NOT_YET)


def test_every_template_string_is_translatable():
    untranslated = []
    for path in owned_templates():
        name = path.relative_to(TEMPLATES).as_posix()
        for text in visible_text(path):
            if (name, text) not in UNTRANSLATED:
                untranslated.append(f"{name}: {text!r}")
    assert not untranslated, "text outside {% translate %}:\n" + "\n".join(untranslated)


def test_the_checker_finds_untranslated_text(tmp_path):
    """The checker itself: it flags plain text and read attributes, and nothing else."""
    sample = tmp_path / "sample.html"
    sample.write_text('{% load i18n %}<p title="Hello there">Plain words</p>'
                      '<p>{% translate "Fine" %} {{ value }}</p>'
                      '{% blocktranslate %}Also fine {{ x }}{% endblocktranslate %}'
                      '<a aria-label="{% translate "ok" %}" href="/x">→</a>')
    assert visible_text(sample) == ["Hello there", "Plain words"]
