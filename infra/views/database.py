"""The views' side of the store: table names, the locked write transaction, positions.

Every batch of events is folded in memory and written together with each projection's
tracking position (eventsourcing's ``tracking`` table) in ONE transaction, which also
holds the store's write lock (SQLite) or a per-store advisory lock (PostgreSQL) so two
projectors never fold the same events. The dialect's work is the store's
(``JourneyRecorderMixin.view_transaction``, ``view_tracking``); this is what the views see.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from journey.infra.store import JourneyApplication
from journey.projections.tables import Tables


class ViewDb:
    """The views' database: placeholders, table names, transactions, tracking positions."""

    def __init__(self, app: JourneyApplication) -> None:
        self.app = app
        self.recorder = app.journey_recorder
        self.postgres = self.recorder.postgres
        self.schema_prefix = self.recorder.schema_prefix
        self.tracking = self.recorder.view_tracking
        self.tracking_table = self.tracking.table

    def sql(self, statement: str) -> str:
        return self.recorder.sql(statement)

    def tables(self, suffix: str = "") -> Tables:
        return Tables(self.schema_prefix, suffix)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Any, Any]]:
        """(cursor with positional rows, the driver's cursor) in a locked write transaction
        (see ``JourneyRecorderMixin.view_transaction``)."""
        with self.recorder.view_transaction() as cursors:
            yield cursors

    def table_exists(self, c: Any, table: str) -> bool:
        return self.recorder.table_exists(c, table)

    def columns(self, c: Any, table: str) -> set[str]:
        return self.recorder.columns(c, table)

    def position(self, c: Any, name: str) -> int:
        return self.tracking.position(c, name)

    def positions(self, c: Any, names: Sequence[str]) -> dict[str, int]:
        return self.tracking.positions(c, names)

    def track(self, raw: Any, name: str, notification_id: int) -> None:
        self.tracking.track(raw, name, notification_id)
