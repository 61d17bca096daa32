"""Which mailed lines are votes: choice numbers joined by commas, spaces, "&" or the word
"and" in any language the site ships; anything more is a message."""

from __future__ import annotations

import pytest
from django.conf import settings

from messageserver import polls


@pytest.mark.parametrize(("line", "numbers"), [
    ("2", [2]),
    ("2.", [2]),
    ("1, 3", [1, 3]),
    ("1 3", [1, 3]),
    ("1 & 3", [1, 3]),
    ("1 and 3", [1, 3]),
    ("1 und 3", [1, 3]),
    ("1 et 3", [1, 3]),
    ("1 ET 3 !", [1, 3]),
    ("1, 3 und 4", [1, 3, 4]),
    ("1, and 3", [1, 3]),
    ("  12 ,3 ", [12, 3]),
])
def test_votes(line, numbers):
    assert polls.numbers_in(f"{line}\n\n> the poll, quoted\n") == numbers


@pytest.mark.parametrize("line", [
    "1 oder 3", "1 ou 3", "1 or 3",  # a choice between two is not a vote for both
    "I like 1 and 3", "1 etc", "1 und", "und 3", "123", "1, 2,", "",
    "1" + " " * 5000 + "x", "1 and" * 2000 + "x",  # long non-votes end, and end as None
])
def test_not_votes(line):
    assert polls.numbers_in(line) is None


def test_every_shipped_language_has_its_and():
    assert {code for code, _name in settings.LANGUAGES} == set(polls.CONJUNCTIONS)
