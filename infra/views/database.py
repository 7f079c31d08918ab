"""The views' database: its dialect, the locked write transaction, tracking positions.

Every batch of events is folded in memory and written together with each projection's
tracking position (eventsourcing's ``tracking`` table) in ONE transaction, which also
holds the store's write lock (SQLite) or a per-store advisory lock (PostgreSQL) so two
projectors never fold the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from journey.infra.store import (
    ImmediateTransaction,
    JourneyApplication,
    JourneyPostgresRecorder,
    TupleCursor,
)
from journey.projections.tables import Tables


class ViewDb:
    """The dialect: placeholders, tables, the locked write transaction, log reads."""

    def __init__(self, app: JourneyApplication) -> None:
        self.app = app
        self.recorder = app.journey_recorder
        self.postgres = isinstance(self.recorder, JourneyPostgresRecorder)
        datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
        self.datastore = datastore
        self.schema_prefix = f'"{datastore.schema}".' if self.postgres else ""
        tracking_class = PostgresTrackingRecorder if self.postgres else SQLiteTrackingRecorder
        self.tracking = tracking_class(datastore)  # its table: see Projector.ensure_tables
        table = getattr(self.tracking, "tracking_table_name", "tracking")  # PostgreSQL names it
        self.tracking_table = f'{self.schema_prefix}"{table}"'

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def tables(self, suffix: str = "") -> Tables:
        return Tables(self.schema_prefix, suffix)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Any, Any]]:
        """(cursor with positional rows, the driver's cursor) in a locked write transaction.

        View commits wait for the disk less than the log's: the views are derived and
        their tracking position commits with them, so a power loss can only take back
        their last commits, which the next catch-up makes again (PostgreSQL:
        ``synchronous_commit = off``; SQLite, in WAL mode: ``synchronous = NORMAL``).
        """
        if self.postgres:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute("SET LOCAL synchronous_commit = off")
                curs.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema_prefix),))
                yield TupleCursor(curs), curs
            return
        with self.datastore.get_connection(commit=True) as conn:
            settings = conn.cursor()  # outside a transaction: SQLite refuses it inside one
            settings.execute("PRAGMA synchronous = NORMAL")
            try:
                with ImmediateTransaction(conn, commit=True) as c, c:
                    c.execute("PRAGMA cache_size = -65536")
                    yield self.recorder.positional(c), c
            finally:  # the pooled connection goes back to writing the log: full durability
                settings.execute("PRAGMA synchronous = FULL")

    def table_exists(self, c: Any, table: str) -> bool:
        if self.postgres:
            c.execute("SELECT to_regclass(%s)", (f"{self.schema_prefix}{table}",))
        else:
            c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (table,))
        row = c.fetchone()
        return row is not None and row[0] is not None

    def columns(self, c: Any, table: str) -> set[str]:
        if self.postgres:
            c.execute("SELECT column_name FROM information_schema.columns "
                      "WHERE table_schema = %s AND table_name = %s",
                      (self.datastore.schema, table))
        else:
            c.execute("SELECT name FROM pragma_table_info(?)", (table,))
        return {row[0] for row in c.fetchall()}

    def position(self, c: Any, name: str) -> int:
        c.execute(self.sql(f"SELECT notification_id FROM {self.tracking_table} "
                           "WHERE application_name = ?"), (name,))
        row = c.fetchone()
        return int(row[0]) if row else 0

    def track(self, raw: Any, name: str, notification_id: int) -> None:
        self.tracking._insert_tracking(raw, Tracking(name, notification_id))


def _lock_key(prefix: str) -> int:
    import zlib

    return zlib.crc32(f"journey-views{prefix}".encode())
