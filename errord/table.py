"""Error groups as text a person reads in a terminal (``manage.py errors``).

Pure formatting of what ``ErrordClient.groups`` returns; no I/O, no Django.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

COLUMNS = ("COUNT", "LAST SEEN", "SERVICE", "ERROR", "WHERE", "ID")
MAX_ERROR = 70
MAX_WHERE = 50


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def ago(ts: str, now: datetime | None = None) -> str:
    """"42s ago", "5m ago", "3h ago", "2d ago" for an ISO time."""
    seconds = max(0, int(((now or datetime.now(UTC)) - _parse(ts)).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def error_text(group: dict[str, Any]) -> str:
    """Exception type and message, without saying the type twice."""
    exc_type, message = group.get("exc_type") or "", group.get("message") or ""
    if exc_type and exc_type.rsplit(".", 1)[-1] not in message:
        return f"{exc_type}: {message}"
    return message


def table(groups: list[dict[str, Any]], now: datetime | None = None) -> str:
    """Aligned columns, one error group a line, most recent first."""
    rows = [COLUMNS] + [
        (str(g["count"]), ago(g["last_seen"], now), g["service"],
         _cut(error_text(g), MAX_ERROR), _cut(g.get("where") or "-", MAX_WHERE), g["fingerprint"])
        for g in groups]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for row in rows:
        cells = [row[0].rjust(widths[0])] + [c.ljust(w) for c, w in zip(row[1:], widths[1:],
                                                                          strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def occurrence_line(group: dict[str, Any], new: int) -> str:
    """One line of ``--follow`` output for a group that got ``new`` occurrences."""
    more = f" (+{new}, {group['count']} in all)" if group["count"] > 1 else ""
    return (f"{group['last_seen']}  {group['service']}  {_cut(error_text(group), MAX_ERROR)}"
            f"  at {group.get('where') or '-'}{more}  [{group['fingerprint']}]")


def detail(group: dict[str, Any]) -> str:
    """A group with its last traceback and where its recent occurrences came from."""
    lines = [
        f"{error_text(group)}",
        f"  service {', '.join(group.get('services') or [group['service']])}"
        f"; hosts {', '.join(group.get('hosts') or ['-'])}",
        f"  {group['count']} times, first {group['first_seen']}, last {group['last_seen']}",
        f"  where {group.get('where') or '-'}; logger {group.get('logger') or '-'}",
        "",
        (group.get("traceback") or "(no traceback)").rstrip(),
    ]
    for occ in group.get("occurrences", [])[:10]:
        lines.append(f"  {occ['at']}  {occ['host'] or '-'} pid {occ['pid']}  "
                     f"{_cut(occ['message'], MAX_ERROR)}")
    return "\n".join(lines)
