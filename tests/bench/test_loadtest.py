"""`make loadtest` at a toy size: the whole path runs, and its checks hold and are printed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.bench_karl import find_sink
from tests.e2e.platform import PROJECT


@pytest.mark.e2e
@pytest.mark.skipif(find_sink() is None,
                    reason="postfix's smtp-sink is not installed (bench tool)")
def test_a_small_load_test_passes_its_checks():
    result = subprocess.run(
        [sys.executable, "bench/loadtest.py", "--senders", "3", "--groups", "2", "--members", "4",
         "--seconds", "2", "--rate", "3", "--web-rate", "4", "--drain", "60"],
        cwd=PROJECT, capture_output=True, text=True, timeout=240)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "| check: archived = accepted | OK: 6 archived, 6 accepted |" in out
    assert "| check: deliveries = accepted x members | OK: 24 = 6 x 4" in out
    for figure in ("posts offered per second | 3.00", "deliveries per second",
                   "SMTP 250 -> last delivery of the post", "web all pages, p50 / p95"):
        assert figure in out, out
