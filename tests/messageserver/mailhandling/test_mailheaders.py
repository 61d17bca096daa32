"""The one header writer (platformcore/mailheaders.py), on its own, and Karl's contract for it."""

from __future__ import annotations

import email
import email.policy
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from karl.contract import InvalidRequest, validate_job
from platformcore import mailheaders
from tests.intlmail import script_text

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
FAST = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)


def read(field: str) -> email.message.EmailMessage:
    return email.message_from_bytes(field.encode("ascii") + b"\r\nbody\r\n",
                                    policy=email.policy.default)


def karl_takes(name: str, raw: str) -> None:
    validate_job({"message": "Subject: x\r\n\r\nhi\r\n", "mail_from": "b@groups.localhost",
                  "recipients": [{"address": "bob@example.org"}], "headers": [[name, raw]]})


@FAST
@given(text=script_text(max_size=300))
def test_any_subject_folds_to_ascii_lines_that_karl_takes_and_read_back(text):
    field = mailheaders.fold("Subject", text)
    assert field.isascii() and field.endswith("\r\n")
    assert all(len(line) <= 78 for line in field[:-2].split("\r\n")) or " " not in text
    karl_takes("Subject", mailheaders.value("Subject", text))
    assert " ".join(str(read(field)["Subject"]).split()) == text


@FAST
@given(name=script_text(max_size=80))
def test_any_display_name_reads_back_whole(name):
    field = mailheaders.fold("From", mailheaders.mailbox(f"{name} via demo",
                                                          "demo@groups.localhost"))
    karl_takes("From", mailheaders.value("From", mailheaders.mailbox(name, "d@x.org")))
    raw = next(v for k, v in read(field).raw_items() if k == "From")
    shown, address = email.utils.parseaddr(" ".join(raw.split()))
    assert address == "demo@groups.localhost"
    assert mailheaders.decode(shown) == f"{name} via demo"


def test_long_ascii_words_are_folded_at_blanks_never_encoded():
    url = "https://groups.example.org/u/" + "a" * 150
    raw = mailheaders.value("List-Unsubscribe", f"<mailto:g+unsubscribe@x.org>, <{url}>")
    assert "=?" not in raw and raw.replace("\r\n", "") == f"<mailto:g+unsubscribe@x.org>, <{url}>"
    refs = mailheaders.value("References", "<" + "b" * 100 + "@x.org> <c@y.org>")
    assert "=?" not in refs


def test_karl_refuses_bare_line_breaks_and_takes_folding():
    for bad in ("one\nX-B: two", "a\r\nb", "a\rb", "a\r\n \r\n b"):
        try:
            karl_takes("X-A", bad)
        except InvalidRequest as exc:
            assert "headers[0]" in exc.fields
        else:
            raise AssertionError(f"Karl took {bad!r}")
    karl_takes("X-A", "one\r\n two\r\n\tthree")


def test_adjacent_encoded_words_join_without_a_space():
    assert mailheaders.decode("=?utf-8?b?7ZqM7J2Y?= =?utf-8?b?5L2g5aW9?=") == "회의你好"
    assert mailheaders.decode("=?utf-8?q?a?= b =?utf-8?q?c?=") == "a b c"


@FAST
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                    min_size=1, max_size=200))
def test_reencode_gives_7bit_headers_that_read_back(text):
    raw = mailheaders.reencode("Subject", text.encode("utf-8"))
    assert raw.isascii()
    assert " ".join(str(read("Subject: " + raw.decode())["Subject"]).split()) == \
        mailheaders.clean(text) or "=?" in text


@FAST
@given(before=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x17F), max_size=90),
       word=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                    max_size=200),
       after=st.sampled_from([">", "", "/>", ", <mailto:x@example.org>"]))
def test_value_around_folds_every_word_exactly_as_value_does(before, word, after):
    """A fan-out's List-Unsubscribe is folded once per shape, not per recipient: same bytes."""
    assert mailheaders.value_around("List-Unsubscribe", before, word, after) == \
        mailheaders.value("List-Unsubscribe", before + word + after)


def test_value_around_folds_a_real_unsubscribe_header_once_per_length():
    before = "<mailto:" + "a" * 50 + "+unsubscribe@groups.localhost>, <"
    for token in ("7-0123456789abcdef0123", "123456-fedcba9876543210fedc"):
        url = f"https://groups.localhost/unsubscribe/{token}/"
        folded = mailheaders.value_around("List-Unsubscribe", before, url, ">")
        assert folded == mailheaders.value("List-Unsubscribe", before + url + ">")
        assert "\r\n " in folded and url in folded


def _problem_by_lines(raw: str) -> str:
    """``mailheaders.problem`` as it was written first, line by line: the reference."""
    if "\x00" in raw:
        return "header values may not contain NUL"
    lines = re.split(r"\r\n(?=[ \t])", raw)
    if any("\r" in line or "\n" in line for line in lines):
        return ("header values may contain line breaks only as folding "
                "(CRLF followed by a space or tab)")
    if any(not line.strip() for line in lines[1:]):
        return "a folded header value may not have an empty line"
    return ""


_HEADER_TEXT = st.lists(st.sampled_from(["a", " ", "\t", "\r", "\n", "\r\n", "\r\n ",
                                                 "\r\n\t", "\x00", "\x0b", "\u3000", "é",
                                                 "x" * 300]), max_size=40).map("".join)


@FAST
@given(_HEADER_TEXT)
def test_problem_and_ready_agree_with_the_line_by_line_reading(raw):
    """problem() and ready() check in a few C-level passes what the lines would say."""
    assert mailheaders.problem(raw) == _problem_by_lines(raw)
    lines = re.split(r"\r\n(?=[ \t])", raw)
    assert mailheaders.ready(raw) == (raw.isascii() and not _problem_by_lines(raw) and all(
        len(line) < mailheaders.MAX_LINE - 100 for line in lines))
