"""Where each view has got to in the log: eventsourcing's ``tracking`` table, written in the
view's own transaction so a batch of view rows and its position commit together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking


class ViewTracking:
    """The tracking positions of the views (one row per projection name)."""

    def __init__(self, datastore: Any, *, postgres: bool,
                 qualified: Callable[[str], str]) -> None:
        """``qualified``: a table's name as SQL (quoted, schema-qualified on PostgreSQL)."""
        # The dialect's library module only: psycopg loads for PostgreSQL stores alone.
        self._recorder: Any
        if postgres:
            from eventsourcing.postgres import PostgresTrackingRecorder

            self._recorder = PostgresTrackingRecorder(datastore)
        else:
            from eventsourcing.sqlite import SQLiteTrackingRecorder

            self._recorder = SQLiteTrackingRecorder(datastore)
        name = getattr(self._recorder, "tracking_table_name", "tracking")  # PostgreSQL names it
        self.table = qualified(name)
        self._placeholder = "%s" if postgres else "?"

    def create_table(self) -> None:
        self._recorder.create_table()

    def position(self, c: Any, name: str) -> int:
        """The last notification id folded into the projection ``name`` (0: none yet)."""
        c.execute(f"SELECT notification_id FROM {self.table} "
                  f"WHERE application_name = {self._placeholder}", (name,))
        row = c.fetchone()
        return int(row[0]) if row else 0

    def positions(self, c: Any, names: Sequence[str]) -> dict[str, int]:
        """``position`` of each of ``names``, in one statement (a query's freshness)."""
        marks = ",".join([self._placeholder] * len(names))
        c.execute(f"SELECT application_name, MAX(notification_id) FROM {self.table} "
                  f"WHERE application_name IN ({marks}) GROUP BY application_name", tuple(names))
        found = {str(name): int(position) for name, position in c.fetchall()}
        return {name: found.get(name, 0) for name in names}

    def track(self, raw: Any, name: str, notification_id: int) -> None:
        """Record, with the driver's cursor ``raw`` of the view transaction, how far
        ``name`` got (the library's own insert, as its projection runner does)."""
        self._recorder._insert_tracking(raw, Tracking(name, notification_id))
