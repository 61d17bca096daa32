"""What mail-parser's reference parse (tests/corpora/mime/NNN.json) says about a message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Reference:
    subject: str | None
    attachments: int
    filenames: list[str]  # of the attachments that name one
    has_text: bool


def _attr(part: dict, header: str, names: tuple[str, ...]) -> str | None:
    for h in part.get("headers") or []:
        if h.get("name") != header:
            continue
        value = h.get("value")
        value = (value.get("ContentType") if isinstance(value, dict) else None) or {}
        for attr in value.get("attributes") or []:
            if isinstance(attr, dict) and attr.get("name") in names:
                return attr.get("value")
            if isinstance(attr, list) and len(attr) == 2 and attr[0] in names:
                return attr[1]
    return None


def load(eml: Path, crlf: bool = False) -> Reference:
    data = json.loads(eml.with_suffix(".crlf.json" if crlf else ".json").read_text())
    parts = data["parts"]
    subject = None
    for h in parts[0].get("headers") or []:
        if h.get("name") == "subject" and isinstance(h.get("value"), dict):
            subject = h["value"].get("Text")
    names = []
    for index in data.get("attachments") or []:
        part = parts[index]
        name = (_attr(part, "content_disposition", ("filename",))
                or _attr(part, "content_type", ("name",)))
        if name:
            names.append(name)
    return Reference(subject=subject, attachments=len(data.get("attachments") or []),
                     filenames=names, has_text=any(
                         _text(parts[i]).strip() for i in data.get("text_body") or []))


def _text(part: dict) -> str:
    body = part.get("body")
    if isinstance(body, dict):
        value = body.get("Text") or body.get("Html") or ""
        return value if isinstance(value, str) else ""
    return ""
