"""manage.py parsebounce, run through Django's call_command on real corpus files."""

from __future__ import annotations

import io
import json

from django.core.management import call_command
from django.core.management.base import CommandError

from tests.messageserver.bounces.corpus import corpus_dir

BASE = corpus_dir()


def _run(*files: str) -> tuple[list[dict], str, BaseException | None]:
    out, err = io.StringIO(), io.StringIO()
    error = None
    try:
        call_command("parsebounce", *files, stdout=out, stderr=err)
    except CommandError as exc:
        error = exc
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return lines, err.getvalue(), error


def test_one_json_line_per_file() -> None:
    bounce = str(BASE / "sisimai/lhost-outlook-04.eml")
    negative = str(BASE / "negatives/sisimai-not-is-not-bounce-01.eml")
    complaint = str(BASE / "complaints/arf-01.eml")
    lines, err, error = _run(bounce, negative, complaint)
    assert error is None and err == ""
    assert [line["file"] for line in lines] == [bounce, negative, complaint]
    first = lines[0]
    assert first["type"] == "bounce"
    assert [(r["address"], r["kind"], r["status"]) for r in first["recipients"]] == [
        ("sabineko@example.co.jp", "hard", "5.1.1"), ("mikeneko@example.co.jp", "soft", "5.2.2")]
    assert all(r["diagnostic"] for r in first["recipients"])
    assert lines[1]["recipients"] == [] and lines[1]["type"] == "none"
    assert lines[2]["type"] == "complaint" and lines[2]["recipients"] == []


def test_unreadable_file_is_reported_and_the_rest_still_printed(tmp_path) -> None:
    missing = str(tmp_path / "nope.eml")
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\x00\xff not a message at all")
    bounce = str(BASE / "mailman2/qmail_01.txt")
    lines, err, error = _run(missing, str(garbage), bounce)
    assert error is not None and "1 of 3" in str(error)
    assert "cannot read" in err and missing in err
    assert [line["file"] for line in lines] == [str(garbage), bounce]
    assert lines[0]["recipients"] == []
    assert lines[1]["type"] == "bounce" and lines[1]["recipients"]


def test_directory_argument_is_an_error_line(tmp_path) -> None:
    lines, err, error = _run(str(tmp_path))
    assert lines == [] and error is not None and str(tmp_path) in err
