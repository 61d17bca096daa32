"""Without Chromium the browser tests skip on a developer's machine but fail in CI."""

from __future__ import annotations

import pytest

from tests.conftest import _unavailable


def test_missing_chromium_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        _unavailable("chromium is missing")


def test_missing_chromium_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="browser tests must run in CI"):
        _unavailable("chromium is missing")
