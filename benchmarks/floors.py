"""The floor ingest is held against (issue 15): the least any ingest of the file must do.

For each line: ``json.loads``, re-serialise (``json.dumps``), and store it with
``executemany`` into a fresh SQLite file, one transaction per batch of ``journey ingest``'s
default size, with the pragmas the engine's log writes run under (WAL, ``synchronous`` left
at FULL, ``BEGIN IMMEDIATE``, a 64 MiB page cache: ``infra/store/sqlite.py``). The table is
keyed by ``touchpoint_id``, as the engine's idempotency table is; a line that is not a JSON
object is counted and skipped, a repeated id ignored. No validation, no decisions, no views.
It runs in this process: the ingest it is compared with also pays its interpreter's start.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

#: ``journey ingest``'s default batch size (JOURNEY_BATCH_SIZE, infra/settings.py).
BATCH_SIZE = 2000
#: The engine's page cache for log writes, KiB (JourneySQLiteRecorder.page_cache_kib).
PAGE_CACHE_KIB = 65536


@dataclass
class Floor:
    lines: int
    seconds: float
    stored: int

    @property
    def rate(self) -> float:
        return self.lines / self.seconds


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    conn.execute("CREATE TABLE touchpoints (touchpoint_id TEXT PRIMARY KEY, type TEXT, "
                 "body BLOB NOT NULL)")
    return conn


def _store(conn: sqlite3.Connection, rows: list[tuple[object, object, bytes]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT OR IGNORE INTO touchpoints VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")


def sqlite_floor(workload: Path, db: Path, batch_size: int = BATCH_SIZE) -> Floor:
    """Parse, re-serialise and store every line of ``workload`` into a new SQLite file ``db``."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    conn = _connect(db)
    lines = 0
    rows: list[tuple[object, object, bytes]] = []
    with workload.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            lines += 1
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            body = json.dumps(obj, separators=(",", ":")).encode()
            rows.append((obj.get("touchpoint_id"), obj.get("type"), body))
            if len(rows) >= batch_size:
                _store(conn, rows)
                rows = []
    if rows:
        _store(conn, rows)
    stored = conn.execute("SELECT count(*) FROM touchpoints").fetchone()[0]
    conn.close()
    return Floor(lines, time.perf_counter() - started, stored)
