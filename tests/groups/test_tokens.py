"""Signed tokens: the MAC is HMAC-SHA256 of the joined parts under SECRET_KEY, and parts are checked."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from groups import tokens
from platformcore.env import get_env


@given(parts=st.lists(st.integers(min_value=0) | st.from_regex(r"[0-9a-z]{1,12}", fullmatch=True),
                      min_size=1, max_size=3))
def test_make_signs_the_joined_parts_and_check_reads_them_back(parts):
    token = tokens.make(tokens.MUTE_TOPIC, *parts)
    text = [str(p) for p in parts]
    mac = hmac.new(get_env().secret_key.encode(),
                   "\x1f".join([tokens.MUTE_TOPIC, *text]).encode(), hashlib.sha256)
    assert token == "-".join([*text, mac.hexdigest()[:tokens.MAC_LENGTH]])
    assert tokens.check(tokens.MUTE_TOPIC, token) == text


@pytest.mark.parametrize("part", [-1, "", "a-b", "a+b", "a@b", "a b"])
def test_parts_that_would_break_the_token_are_refused(part):
    with pytest.raises(ValueError):
        tokens.make(tokens.UNSUBSCRIBE, part)
