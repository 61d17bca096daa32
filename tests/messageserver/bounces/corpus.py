"""The bounce corpus (tests/corpora/bounces) and how we score the parser on it (used by the tests).

Scoring follows the corpus README: a bounce file counts as found when the parser
reports as many failed recipients as expected and every known address among them
(case-insensitively); hard/soft is compared per recipient where the corpus gives a
kind, pairing by address or, when the address is unknown, by order.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from messageserver.bounces import BounceReport, parse_bounce
from tests.conftest import CORPORA


def corpus_dir() -> Path:
    """tests/corpora/bounces, or BOUNCE_CORPUS to score another folder of the same layout."""
    if os.environ.get("BOUNCE_CORPUS"):
        return Path(os.environ["BOUNCE_CORPUS"])
    return CORPORA / "bounces"


def load_expected() -> list[dict]:
    base = corpus_dir()
    with open(base / "expected.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def parse_file(entry: dict) -> BounceReport:
    base = corpus_dir()
    return parse_bounce((base / entry["file"]).read_bytes())


def pair_recipients(entry: dict, report: BounceReport) -> list[tuple[dict, object]]:
    """Expected recipient -> parsed recipient (or None), by address, else by order."""
    got = list(report.recipients)
    by_address = {r.address.lower(): r for r in got}
    pairs = []
    unmatched = [r for r in got]
    for exp in entry["recipients"] or []:
        if exp.get("address"):
            match = by_address.get(exp["address"].lower())
            if match is not None and match in unmatched:
                unmatched.remove(match)
            pairs.append((exp, match))
        else:
            pairs.append((exp, None))
    for i, (exp, match) in enumerate(pairs):
        if match is None and not exp.get("address") and unmatched:
            pairs[i] = (exp, unmatched.pop(0))
    return pairs


def file_found(entry: dict, report: BounceReport) -> bool:
    expected = entry["recipients"] or []
    if len(report.recipients) != len(expected):
        return False
    return all(match is not None for exp, match in pair_recipients(entry, report)
               if exp.get("address"))


@dataclass
class SourceScore:
    bounces: int = 0
    found: int = 0
    kinds: int = 0
    kinds_right: int = 0
    non_bounces: int = 0
    false_positives: int = 0
    reported: int = 0
    misses: list[str] = field(default_factory=list)
    wrong_kinds: list[str] = field(default_factory=list)
    false_files: list[str] = field(default_factory=list)


def score(entries: list[dict]) -> dict[str, SourceScore]:
    scores: dict[str, SourceScore] = defaultdict(SourceScore)
    for entry in entries:
        if entry["recipients"] is None:
            continue
        report = parse_file(entry)
        s = scores[entry["source"]]
        if report.recipients:
            s.reported += 1
        if entry["category"] == "bounce":
            s.bounces += 1
            if file_found(entry, report):
                s.found += 1
            else:
                s.misses.append(entry["file"])
            for exp, match in pair_recipients(entry, report):
                if exp.get("kind") and match is not None:
                    s.kinds += 1
                    if match.kind == exp["kind"]:
                        s.kinds_right += 1
                    else:
                        s.wrong_kinds.append(f"{entry['file']} {exp.get('reason')} "
                                             f"{match.address} {match.status} {match.diagnostic}")
        else:
            s.non_bounces += 1
            if report.recipients:
                s.false_positives += 1
                s.false_files.append(entry["file"])
    return dict(scores)
