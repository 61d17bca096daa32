"""The reliability suite's outcome table, printed once at the end of the run (-p tests.outcometable).

A plugin, not a conftest: with pytest-xdist the tests run in worker
processes, and only the controller prints the summary. Each worker hands its
rows to the controller in ``workeroutput`` when it finishes; the controller
merges them (ordered by area, then by what was tried) and prints the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

KEY = "reliability_outcomes"


@dataclass
class OutcomeTable:
    """Rows of (area, what was tried, outcome)."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, area: str, what: str, outcome: str) -> None:
        self.rows.append((area, what, outcome))


TABLE = OutcomeTable()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints
        workeroutput[KEY] = json.dumps(TABLE.rows)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # noqa: ANN001  (xdist's hook)
    rows = getattr(node, "workeroutput", {}).get(KEY)
    if rows:
        TABLE.rows.extend(tuple(row) for row in json.loads(rows))


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if not TABLE.rows or hasattr(terminalreporter.config, "workeroutput"):
        return
    rows = sorted(TABLE.rows, key=lambda r: (r[0], r[1]))
    header = ("area", "tried", "outcome")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    widths = [min(w, 60) for w in widths[:2]] + [widths[2]]
    terminalreporter.section("reliability: faults and attacks tried")
    terminalreporter.write_line("  ".join(h.ljust(w) for h, w in zip(header, widths,
                                                                      strict=True)))
    terminalreporter.write_line("  ".join("-" * w for w in widths))
    for row in rows:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths,
                                                                         strict=True)))
