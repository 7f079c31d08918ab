"""The live views, read: ``view_queries``, typed queries in one read transaction.

Apart from the ``projector`` (which imports every fold, and the aggregates they fold) so that
a query starts without them: the projector is imported only when the view tables must be
made or upgraded first.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from journey.infra.views.database import ViewDb
from journey.infra.views.swap import TRACKING_PREFIX
from journey.projections.queries import ViewQueries
from journey.projections.tables import ADDED_COLUMNS, PROJECTIONS

if TYPE_CHECKING:
    from journey.infra.store import JourneyApplication


class PrivateReader:
    """A read connection of its own to a SQLite store, for one thread at a time: for short
    reads on the server's event loop. A read transaction through the store's connection pool
    costs ~0.1 ms of bookkeeping, several times the reads of a timeline's state; on this
    connection, a BEGIN and a ROLLBACK. (PostgreSQL: none, its reads go through the pool.)"""

    def __init__(self, app: JourneyApplication) -> None:
        pool = app.journey_recorder.datastore.pool
        self._connection = sqlite3.connect(pool.db_name, uri=True, check_same_thread=False,
                                           isolation_level=None, cached_statements=128)
        kib = int(getattr(app.journey_recorder, "page_cache_kib", 65536))  # as the pool's
        self._connection.execute(f"PRAGMA cache_size = -{kib}")
        self._lock = threading.Lock()

    @contextmanager
    def rows(self) -> Iterator[sqlite3.Cursor]:
        """A cursor of plain rows in a read transaction (rolled back at the end)."""
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            finally:
                self._connection.rollback()

    def close(self) -> None:
        self._connection.close()


@contextmanager
def view_queries(app: JourneyApplication, *, ready: bool = False,
                 reader: PrivateReader | None = None) -> Iterator[ViewQueries]:
    """Typed queries over the live views, in one read transaction; ``freshness()`` says
    which log position the answers reflect. ``ready``: the caller has made sure the view
    tables are there in their current layout (``journey serve`` does once, at start-up), so
    the check that reads every table's layout is skipped. ``reader``: read on that
    connection rather than one of the store's pool."""
    db = ViewDb(app)
    if not ready and not _views_current(app, db):
        from journey.infra.views.projector import Projector

        Projector(app)  # nothing projected yet (empty views, not an error), or older tables
    with reader.rows() if reader is not None else app.journey_recorder.read_rows() as c:
        tracked = db.positions(c, [TRACKING_PREFIX + name for name in PROJECTIONS])
        positions = {name: tracked[TRACKING_PREFIX + name] for name in PROJECTIONS}
        head = app.journey_recorder.position_in(c)  # after the positions: never behind them
        yield ViewQueries(c, db.sql, db.tables(), positions, head)


def _views_current(app: JourneyApplication, db: ViewDb) -> bool:
    """Every view table is there, in its current layout (no write needed to query)."""
    try:
        with app.journey_recorder.read_rows() as c:
            for tables in PROJECTIONS.values():
                for table in tables:
                    c.execute(f"SELECT 1 FROM {getattr(db.tables(), table)} LIMIT 0")
            return all(set(columns) <= db.columns(c, table)
                       for table, columns in ADDED_COLUMNS.items())
    except Exception:  # the driver's "no such table", whichever the dialect
        return False
