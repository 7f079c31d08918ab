"""Where each view has got to in the log: eventsourcing's ``tracking`` table, written in the
view's own transaction so a batch of view rows and its position commit together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder


class ViewTracking:
    """The tracking positions of the views (one row per projection name)."""

    def __init__(self, datastore: Any, *, postgres: bool,
                 qualified: Callable[[str], str]) -> None:
        """``qualified``: a table's name as SQL (quoted, schema-qualified on PostgreSQL)."""
        kind = PostgresTrackingRecorder if postgres else SQLiteTrackingRecorder
        self._recorder = kind(datastore)
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

    def track(self, raw: Any, name: str, notification_id: int) -> None:
        """Record, with the driver's cursor ``raw`` of the view transaction, how far
        ``name`` got (the library's own insert, as its projection runner does)."""
        self._recorder._insert_tracking(raw, Tracking(name, notification_id))
