"""errord's durable store: one SQLite file in WAL mode, groups and occurrences.

errord keeps its own file (not the platform's database) so it keeps working
when the database is the thing that is broken. Each group holds its counters
and its latest traceback; only the last ``keep`` occurrences of a group are
kept, so a crash loop cannot fill the disk.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from errord.fingerprint import fingerprint
from errord.reports import Report

SCHEMA = """
CREATE TABLE IF NOT EXISTS error_groups (
    fingerprint TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    exc_type TEXT NOT NULL,
    logger TEXT NOT NULL,
    where_ TEXT NOT NULL,
    message TEXT NOT NULL,
    traceback TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    services TEXT NOT NULL,
    hosts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS error_groups_last_seen ON error_groups (last_seen);
CREATE TABLE IF NOT EXISTS occurrences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    traceback TEXT NOT NULL,
    context TEXT NOT NULL,
    at REAL NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS occurrences_fingerprint ON occurrences (fingerprint, id);
"""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _where_from_context(context: dict[str, Any], project_dir: str) -> str:
    """``file:function`` for a report without traceback, from the handler's context."""
    where = str(context.get("where") or "")
    path = where.rsplit(":", 1)[0] if where else ""
    if path and project_dir and path.startswith(project_dir.rstrip("/") + "/"):
        path = path[len(project_dir.rstrip("/")) + 1:]
    function = str(context.get("function") or "")
    return f"{path}:{function}" if path and function else path


class Store:
    """All reads and writes of errord's SQLite file (one connection, one lock)."""

    def __init__(self, path: Path, project_dir: str, keep: int = 50):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.project_dir = project_dir
        self.keep = keep
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1 FROM error_groups LIMIT 1").fetchall()

    def add(self, reports: Iterable[Report]) -> list[str]:
        """Store reports in one transaction; return their fingerprints, in order."""
        now = time.time()
        fingerprints = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for report in reports:
                    fingerprints.append(self._add_one(report, now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return fingerprints

    def _add_one(self, report: Report, now: float) -> str:
        project_dir = str(report.context.get("project_dir") or self.project_dir)
        logger = str(report.context.get("logger") or "")
        grouping = fingerprint(
            report.service, traceback=report.traceback, message=report.message, logger=logger,
            exc_type=report.exc_type, project_dir=project_dir,
            where=_where_from_context(report.context, project_dir))
        message = report.message or report.traceback.strip().splitlines()[-1]
        db = self._db
        row = db.execute("SELECT services, hosts FROM error_groups WHERE fingerprint = ?",
                         (grouping.fingerprint,)).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO error_groups VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (grouping.fingerprint, report.service, grouping.exc_type, logger, grouping.where,
                 message, report.traceback, report.at, report.at,
                 json.dumps([report.service]), json.dumps([report.host] if report.host else [])))
        else:
            services = sorted(set(json.loads(row["services"])) | {report.service})
            hosts = sorted(set(json.loads(row["hosts"])) | ({report.host} - {""}))
            db.execute(
                "UPDATE error_groups SET count = count + 1, message = ?, traceback = ?,"
                " where_ = ?, first_seen = min(first_seen, ?), last_seen = max(last_seen, ?),"
                " services = ?, hosts = ? WHERE fingerprint = ?",
                (message, report.traceback, grouping.where, report.at, report.at,
                 json.dumps(services), json.dumps(hosts), grouping.fingerprint))
        db.execute(
            "INSERT INTO occurrences (fingerprint, service, host, pid, level, message, traceback,"
            " context, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (grouping.fingerprint, report.service, report.host, report.pid, report.level,
             report.message, report.traceback, json.dumps(report.context, default=str),
             report.at, now))
        db.execute(
            "DELETE FROM occurrences WHERE fingerprint = ? AND id <= (SELECT id FROM occurrences"
            " WHERE fingerprint = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (grouping.fingerprint, grouping.fingerprint, self.keep))
        return grouping.fingerprint

    @staticmethod
    def _group(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "fingerprint": row["fingerprint"],
            "service": row["service"],
            "exc_type": row["exc_type"],
            "logger": row["logger"],
            "message": row["message"],
            "count": row["count"],
            "first_seen": iso(row["first_seen"]),
            "last_seen": iso(row["last_seen"]),
            "traceback": row["traceback"],
            "where": row["where_"],
            "services": json.loads(row["services"]),
            "hosts": json.loads(row["hosts"]),
        }

    def groups(self, since: float | None = None, service: str | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
        """Groups seen in the last ``since`` seconds, most recently seen first."""
        sql, args = "SELECT * FROM error_groups WHERE 1=1", []
        if since is not None:
            sql += " AND last_seen >= ?"
            args.append(time.time() - since)
        if service:
            sql += " AND service = ?"
            args.append(service)
        sql += " ORDER BY last_seen DESC, fingerprint LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [self._group(r) for r in rows]

    def group(self, fp: str, occurrences: int = 20) -> dict[str, Any] | None:
        """One group with its last ``occurrences`` occurrences, newest first."""
        with self._lock:
            row = self._db.execute("SELECT * FROM error_groups WHERE fingerprint = ?",
                                   (fp,)).fetchone()
            if row is None:
                return None
            occ = self._db.execute(
                "SELECT * FROM occurrences WHERE fingerprint = ? ORDER BY id DESC LIMIT ?",
                (fp, occurrences)).fetchall()
        group = self._group(row)
        group["occurrences"] = [
            {"service": o["service"], "host": o["host"], "pid": o["pid"], "level": o["level"],
             "message": o["message"], "traceback": o["traceback"],
             "context": json.loads(o["context"]), "at": iso(o["at"]),
             "received_at": iso(o["received_at"])}
            for o in occ]
        return group

    def counts_by_service(self) -> dict[str, int]:
        """Number of groups per service (for /metrics)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT service, count(*) AS n FROM error_groups GROUP BY service").fetchall()
        return {r["service"]: r["n"] for r in rows}
