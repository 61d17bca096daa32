"""Decide which error reports are "the same error": the fingerprint.

Pure functions, no I/O. Two occurrences share a group when they come from the
same service and
- have a traceback: the same exception type and the same innermost frames of
  our own code (files under the project directory, not the venv), compared
  without line numbers so a small edit above a function does not split a group;
- have no traceback: the same logger and the same message once the parts that
  vary between occurrences (numbers, hex ids, addresses) are normalised.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

FRAMES_IN_FINGERPRINT = 3

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>.+?)\s*$')
_TB_HEADER = "Traceback (most recent call last):"
_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
_NOT_OURS = {"site-packages", "dist-packages", ".venv", "venv", "lib-dynload"}

_NORMALISERS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"0x[0-9a-fA-F]+"), "<addr>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
     "<uuid>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\d+"), "#"),
    (re.compile(r"\s+"), " "),
]


@dataclass(frozen=True)
class Frame:
    path: str
    line: int
    function: str


@dataclass(frozen=True)
class ParsedTraceback:
    frames: list[Frame]
    exc_type: str
    exc_message: str


def parse_traceback(text: str) -> ParsedTraceback:
    """Frames and exception of the *last* traceback block (the one that escaped)."""
    start = text.rfind(_TB_HEADER)
    block = text[start + len(_TB_HEADER):] if start >= 0 else text
    frames: list[Frame] = []
    exc_type = exc_message = ""
    for line in block.splitlines():
        match = _FRAME.match(line)
        if match:
            frames.append(Frame(match["path"], int(match["line"]), match["func"]))
            continue
        if not exc_type and line and not line[0].isspace():
            exc = _EXC_LINE.match(line.strip())
            if exc and (frames or start >= 0):
                exc_type = exc["type"]
                exc_message = exc["message"] or ""
    return ParsedTraceback(frames, exc_type, exc_message)


def relative_to_project(path: str, project_dir: str) -> str | None:
    """``path`` relative to the project, or None when it is not our code."""
    pure = PurePosixPath(path)
    root = PurePosixPath(project_dir) if project_dir else None
    if root is None or not pure.is_relative_to(root):
        return None
    rel = pure.relative_to(root)
    if _NOT_OURS.intersection(rel.parts):
        return None
    return str(rel)


def key_frames(frames: list[Frame], project_dir: str) -> list[str]:
    """``file:function`` of the innermost frames of our code, innermost first.

    When no frame is ours (a script outside the project, a library thread),
    the innermost frames are used by file name, so grouping still works.
    """
    ours = [(rel, f.function) for f in frames
            if (rel := relative_to_project(f.path, project_dir)) is not None]
    if not ours:
        ours = [(PurePosixPath(f.path).name, f.function) for f in frames]
    return [f"{path}:{func}" for path, func in reversed(ours)][:FRAMES_IN_FINGERPRINT]


def normalise_message(message: str) -> str:
    """The message with what varies between occurrences replaced by placeholders."""
    for pattern, replacement in _NORMALISERS:
        message = pattern.sub(replacement, message)
    return message.strip()[:500]


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:20]


@dataclass(frozen=True)
class Grouping:
    """What the fingerprint was made of, kept with the group for display."""

    fingerprint: str
    exc_type: str
    where: str


def fingerprint(service: str, *, traceback: str, message: str, logger: str,
                exc_type: str = "", project_dir: str = "", where: str = "") -> Grouping:
    """Group key of one error report (see the module docstring for the rule)."""
    if traceback.strip():
        parsed = parse_traceback(traceback)
        kind = exc_type or parsed.exc_type or "Exception"
        frames = key_frames(parsed.frames, project_dir)
        if frames:
            return Grouping(_digest(["tb", service, kind, *frames]), kind, frames[0])
    else:
        kind = exc_type
    return Grouping(_digest(["msg", service, logger, kind, normalise_message(message)]),
                    kind, where)
