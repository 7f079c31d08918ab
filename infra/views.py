"""Keeping the views current: catch-up, follow, rebuild. Exactly-once by construction.

Every batch of events is folded in memory and written together with each projection's
tracking position (eventsourcing's ``tracking`` table) in ONE transaction, which also
holds the store's write lock (SQLite) or a per-store advisory lock (PostgreSQL) so two
projectors never fold the same events. A kill at any point leaves either the batch
and its position, or neither: a restart resumes from the position, never double-counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

import orjson
import structlog
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import resolve_topic

from journey.domain.stock import PartStock
from journey.infra.feed import LogFeed, cycles_uncollected
from journey.infra.store import (
    ImmediateTransaction,
    JourneyApplication,
    JourneyPostgresRecorder,
    LogEntry,
    TupleCursor,
    log_wake_ups,
)
from journey.projections.stock import Pair, Planning, StockFold, StockWrites, blank_stock
from journey.projections.tables import PROJECTIONS, Tables, create_statements
from journey.projections.touchpoints import (
    MemoryTouchpointState,
    Pending,
    TouchpointFold,
    TouchpointWrites,
)

log = structlog.get_logger("journey.views")

TRACKING_PREFIX = "view:"


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


# --- state behind the folds, loaded lazily from the view tables ---------------------------------


class SqlTouchpointState(MemoryTouchpointState):
    """The fold's state for one batch: what it asks is read from the tables, then cached."""

    def __init__(self, db: ViewDb, c: Any, t: Tables) -> None:
        super().__init__()
        self.db, self.c, self.t = db, c, t

    def _all(self, statement: str, *params: Any) -> list[Any]:
        self.c.execute(self.db.sql(statement), params)
        return list(self.c.fetchall())

    def repair(self, repair_id: str) -> tuple[str, str] | None:
        if repair_id not in self.repairs:
            rows = self._all(f"SELECT customer_id, serial FROM {self.t.view_repairs} "
                             "WHERE repair_id = ?", repair_id)
            if not rows:
                return None
            self.repairs[repair_id] = (rows[0][0], rows[0][1])
        return self.repairs[repair_id]

    def fixed_completions(self, serial: str) -> list[tuple[str, int]]:
        if serial not in self.fixed:
            self.fixed[serial] = [(r[0], int(r[1])) for r in self._all(
                f"SELECT repair_id, occurred_us FROM {self.t.view_fixed} WHERE serial = ?",
                serial)]
        return self.fixed[serial]

    def open_requests(self, serial: str) -> list[Pending]:
        if serial not in self.requests:
            rows = self._all(
                "SELECT touchpoint_id, repair_id, occurred_us, kind, month, subject "
                f"FROM {self.t.view_touchpoints} WHERE serial = ? AND code IS NULL", serial)
            self.requests[serial] = [Pending(r[0], r[1], int(r[2]), r[3], r[4], r[5])
                                     for r in rows]
        return self.requests[serial]

    def earliest_error(self, subject: str) -> int | None:
        if subject not in self.errors:
            rows = self._all(f"SELECT MIN(occurred_us) FROM {self.t.view_touchpoints} "
                             "WHERE subject = ? AND code IS NOT NULL", subject)
            if rows[0][0] is None:
                return None
            self.errors[subject] = int(rows[0][0])
        return self.errors[subject]

    def open_contacts(self, subject: str) -> list[Pending]:
        if subject not in self.contacts:
            self.contacts[subject] = [Pending(r[0], None, int(r[1]), r[2], r[3], subject)
                                      for r in self._all(
                "SELECT touchpoint_id, occurred_us, kind, month FROM "
                f"{self.t.view_touchpoints} WHERE contact_subject = ? AND failure = 0 "
                "AND demand = 'unknown'",
                subject)]
        return self.contacts[subject]

    def learn_error(self, subject: str, occurred_us: int) -> None:
        self.earliest_error(subject)  # load first: the table may know an earlier one
        super().learn_error(subject, occurred_us)


def load_stock(db: ViewDb, c: Any, t: Tables) -> Callable[[Pair], PartStock | None]:
    def load(pair: Pair) -> PartStock | None:
        c.execute(db.sql(f"SELECT on_hand, reservations, backorders FROM {t.view_stock} "
                         "WHERE part_id = ? AND location = ?"), pair)
        row = c.fetchone()
        if row is None:
            return None
        stock = blank_stock(*pair)
        stock.on_hand = int(row[0])
        stock.reservations = json.loads(row[1])
        stock.backorders = json.loads(row[2])
        return stock
    return load


# --- writing what a batch changed ----------------------------------------------------------------


def write_touchpoints(db: ViewDb, c: Any, t: Tables, w: TouchpointWrites) -> None:
    q = db.sql
    if w.rows:
        c.executemany(q(f"INSERT INTO {t.view_touchpoints} VALUES ({','.join('?' * 17)})"),
                      w.rows)
    if w.codes:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET code = ? WHERE touchpoint_id = ?"),
                      w.codes)
    if w.failures:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET failure = 1 WHERE touchpoint_id = ?"),
                      w.failures)
    if w.repairs:
        c.executemany(q(f"INSERT INTO {t.view_repairs} VALUES (?,?,?)"), w.repairs)
    if w.fixed:
        c.executemany(q(f"INSERT INTO {t.view_fixed} VALUES (?,?,?)"), w.fixed)
    if w.rates:
        c.executemany(q(
            f"INSERT INTO {t.view_error_rates} AS r VALUES (?,?,?,?) ON CONFLICT (kind, month) "
            "DO UPDATE SET touchpoints = r.touchpoints + excluded.touchpoints, "
            "errors = r.errors + excluded.errors"), w.rates)
    if w.by_code:
        c.executemany(q(
            f"INSERT INTO {t.view_error_codes} AS r VALUES (?,?) ON CONFLICT (code) "
            "DO UPDATE SET count = r.count + excluded.count"), w.by_code)
    if w.demand:
        c.executemany(q(
            f"INSERT INTO {t.view_failure_demand} AS r VALUES (?,?,?) ON CONFLICT (month) "
            "DO UPDATE SET contacts = r.contacts + excluded.contacts, "
            "failure = r.failure + excluded.failure"), w.demand)


def write_stock(db: ViewDb, c: Any, t: Tables, w: StockWrites) -> None:
    q = db.sql
    if w.stocks:
        c.executemany(q(
            f"INSERT INTO {t.view_stock} AS s (part_id, location, on_hand, reserved, "
            "backordered, reservations, backorders) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (part_id, location) DO UPDATE SET on_hand = excluded.on_hand, "
            "reserved = excluded.reserved, backordered = excluded.backordered, "
            "reservations = excluded.reservations, backorders = excluded.backorders"),
            w.stocks)
    if w.issues:
        c.executemany(q(
            f"INSERT INTO {t.view_stock_issues} AS i VALUES (?,?,?,?) "
            "ON CONFLICT (part_id, location, day) DO UPDATE SET qty = i.qty + excluded.qty"),
            w.issues)
    if w.latest_day is not None:
        refresh_window(db, c, t, w)


def refresh_window(db: ViewDb, c: Any, t: Tables, w: StockWrites | None = None) -> None:
    """Keep ``view_stock``'s window sums equal to the issues of the stored planning window
    (the ``STORED_WINDOW_DAYS`` days up to the latest movement day, ``as_of_day``).

    When a batch moves ``as_of_day`` the window slides for every pair: all sums are
    computed again (one grouped scan of the window). Otherwise only the pairs with new
    issues inside the window change. ``w=None``: everything, from the tables alone.
    """
    q = db.sql
    c.execute(f"SELECT value FROM {t.view_stock_meta} WHERE key = 'as_of_day'")
    row = c.fetchone()
    before: str | None = row[0] if row else None
    days = [day for day in (before, w.latest_day if w else None) if day is not None]
    if not days:
        return  # no movement yet
    as_of = max(days)
    if as_of != before:
        c.execute(q(f"INSERT INTO {t.view_stock_meta} AS m VALUES ('as_of_day', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"), (as_of,))
    first = Planning().window_start(date.fromisoformat(as_of)).isoformat()  # stored window
    # Named columns: PostgreSQL's dict rows would fold two unnamed SUMs into one.
    sums = ("SELECT part_id, location, SUM(qty) AS total, SUM(qty * qty) AS squares "
            f"FROM {t.view_stock_issues} WHERE day >= ? AND day <= ?")
    if w is None or as_of != before:
        c.execute(f"UPDATE {t.view_stock} SET window_qty = 0, window_squares = 0 "
                  "WHERE window_qty <> 0 OR window_squares <> 0")
        c.execute(q(f"{sums} GROUP BY part_id, location"), (first, as_of))
        rows = c.fetchall()
    else:
        rows = []
        for pair in sorted({(p, loc) for p, loc, day, _ in w.issues if first <= day <= as_of}):
            c.execute(q(f"{sums} AND part_id = ? AND location = ? GROUP BY part_id, location"),
                      (first, as_of, *pair))
            rows.extend(c.fetchall())
    c.executemany(q(f"UPDATE {t.view_stock} SET window_qty = ?, window_squares = ? "
                    "WHERE part_id = ? AND location = ?"),
                  [(int(qty), int(squares), p, loc) for p, loc, qty, squares in rows])


class ViewDecoder:
    """Decodes stored events for the folds, converting only what views read.

    The library's mapper runs every value through the transcoder's hooks (UUIDs,
    Decimals, dates); the folds read plain fields and ``occurred_at``. Anything the
    shortcut cannot honour (upcasting, a cipher, compression) goes through the mapper.
    """

    def __init__(self, app: JourneyApplication) -> None:
        self.mapper = app.mapper
        self.shortcut = app.mapper.cipher is None and app.mapper.compressor is None
        self.classes: dict[str, tuple[Any, int]] = {}  # topic: (class, class_version)

    def __call__(self, entry: LogEntry) -> Any:
        if not self.shortcut:
            return self.mapper.to_domain_event(entry.notification())
        found = self.classes.get(entry.topic)
        if found is None:
            cls = resolve_topic(entry.topic)
            found = self.classes[entry.topic] = (cls, getattr(cls, "class_version", 1))
        cls, version = found
        try:
            state = orjson.loads(entry.state)
        except orjson.JSONDecodeError:  # what only json reads (an integer beyond 64 bits)
            state = json.loads(entry.state)
        if state.pop("class_version", 1) != version:
            return self.mapper.to_domain_event(entry.notification())
        occurred = state.get("occurred_at")
        if occurred is not None:
            state["occurred_at"] = datetime.fromisoformat(occurred["_data_"])
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", state)  # a frozen dataclass, as the mapper fills it
        return event


@dataclass(slots=True)
class FoldedBatch:
    """A batch of the log folded from scratch: the rows it adds to fresh view tables."""

    last: int  # notification id of the batch's last event
    count: int
    touchpoints: TouchpointWrites | None
    stock: StockWrites | None


class LogFolder:
    """Folds the log from its start for a rebuild: the whole state in memory (the fresh
    tables start empty), each batch's writes as plain rows (picklable: it may run in a
    worker process, see ``LogFeed``)."""

    def __init__(self, app: JourneyApplication, names: Iterable[str]) -> None:
        self.decode = ViewDecoder(app)
        self.touchpoints = MemoryTouchpointState() if "touchpoints" in names else None
        self.stocks: dict[Pair, PartStock] | None = {} if "stock" in names else None

    def __call__(self, batch: list[LogEntry]) -> FoldedBatch:
        decode = self.decode
        events = [(entry.id, decode(entry)) for entry in batch]
        touchpoints = stock = None
        if self.touchpoints is not None:
            fold = TouchpointFold(self.touchpoints)
            for seq, event in events:
                fold.apply(event, seq)
            touchpoints = fold.changes.writes()
        if self.stocks is not None:
            stock_fold = StockFold(self.stocks.get)
            for _, event in events:
                stock_fold.apply(event)
            self.stocks.update(stock_fold.changes.stocks)
            stock = stock_fold.changes.writes()
        return FoldedBatch(batch[-1].id, len(batch), touchpoints, stock)


# --- the runner -----------------------------------------------------------------------------------


class Projector:
    """Catches the views up with the log, follows it, and rebuilds them beside the live ones."""

    def __init__(self, app: JourneyApplication, batch_size: int = 5000,
                 worker_min_events: int = 50_000) -> None:
        self.app = app
        self.db = ViewDb(app)
        self.batch_size = batch_size
        #: A rebuild of a log at least this long folds in a worker process.
        self.worker_min_events = worker_min_events
        self.decode = ViewDecoder(app)
        self.ensure_tables()

    def ensure_tables(self, suffix: str = "", *, tables: bool = True, indexes: bool = True,
                      names: Iterable[str] = PROJECTIONS) -> None:
        """Create a generation's tables and/or indexes; a projection whose first table
        exists already is left alone (its indexes were made with it)."""
        if tables and not suffix:
            with self.db.recorder.writer_lock():  # concurrent creation: see the SQLite recorder
                self.db.tracking.create_table()
        t = self.db.tables(suffix)
        with self.db.transaction() as (c, _):
            for name, statements in create_statements(t, uuid.uuid4().hex[:8]).items():
                if name not in names:
                    continue
                if tables and self.db.table_exists(c, PROJECTIONS[name][0] + suffix):
                    if name == "stock":
                        self._add_window_sums(c, t, suffix)
                    continue
                for statement in statements:
                    is_index = statement.startswith("CREATE INDEX")
                    if (is_index and indexes) or (not is_index and tables):
                        c.execute(statement)

    def _add_window_sums(self, c: Any, t: Tables, suffix: str) -> None:
        """Stock tables made before the view kept window sums: add them, from the issues."""
        if "window_qty" in self.db.columns(c, "view_stock" + suffix):
            return
        for column in ("window_qty", "window_squares"):
            c.execute(f"ALTER TABLE {t.view_stock} ADD COLUMN {column} "
                      "BIGINT NOT NULL DEFAULT 0")
        refresh_window(self.db, c, t)
        log.info("views.migrated", table="view_stock", added=["window_qty", "window_squares"])

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Fold every event not yet in the views; returns how many events were read."""
        done = 0
        while True:
            with self.db.transaction() as (c, raw):
                t = self.db.tables()
                positions = {name: self.db.position(c, TRACKING_PREFIX + name)
                             for name in PROJECTIONS}
                start = min(positions.values())
                batch = self.db.recorder.read_log(c, start, self.batch_size)
                if not batch:
                    return done
                touchpoints = TouchpointFold(SqlTouchpointState(self.db, c, t))
                stock = StockFold(load_stock(self.db, c, t))
                for n in batch:
                    event = self.decode(n)
                    if n.id > positions["touchpoints"]:
                        touchpoints.apply(event, n.id)
                    if n.id > positions["stock"]:
                        stock.apply(event)
                write_touchpoints(self.db, c, t, touchpoints.changes.writes())
                write_stock(self.db, c, t, stock.changes.writes())
                for name in PROJECTIONS:
                    if batch[-1].id > positions[name]:
                        self.db.track(raw, TRACKING_PREFIX + name, batch[-1].id)
            done += len(batch)
            if progress:
                progress(done, batch[-1].id)

    def follow(self, interval: float = 0.5, stop: Callable[[], bool] = lambda: False) -> None:
        """Keep the views current while other processes write.

        PostgreSQL wakes us through the recorder's LISTEN/NOTIFY channel (``interval`` is
        then only a safety net); SQLite has no notifications, so the log is polled.
        """
        with log_wake_ups(self.app) as wait:
            while not stop():
                if self.catch_up() == 0:
                    wait(interval)

    def lag(self) -> dict[str, int]:
        """How many notifications each projection is behind the log."""
        head = self.app.journey_recorder.position()
        with self.db.transaction() as (c, _):
            return {name: head - self.db.position(c, TRACKING_PREFIX + name)
                    for name in PROJECTIONS}

    def rebuild(self, names: list[str], progress: Callable[[int, int], None] | None = None,
                *, suffix: str = "_next", swap: bool = True) -> int:
        """Build fresh tables from the whole log beside the live ones, then swap them in
        (``swap=False`` leaves them beside the live ones, e.g. for ``audit replay``)."""
        next_t = self.db.tables(suffix)
        with self.db.transaction() as (c, _):
            for name in names:
                for table in PROJECTIONS[name]:
                    c.execute(f"DROP TABLE IF EXISTS {getattr(next_t, table)}")
                c.execute(self.db.sql(f"DELETE FROM {self.db.tracking_table} "
                                      "WHERE application_name = ?"),
                          (TRACKING_PREFIX + name + suffix,))
        # Bulk-load without secondary indexes, build them once, swap, then catch up.
        self.ensure_tables(suffix, indexes=False, names=names)
        done, head = 0, self.app.journey_recorder.position()
        with cycles_uncollected(), self._folded(names, head) as batches:
            for folded in batches:
                with self.db.transaction() as (c, raw):
                    if folded.touchpoints is not None:
                        write_touchpoints(self.db, c, next_t, folded.touchpoints)
                    if folded.stock is not None:
                        write_stock(self.db, c, next_t, folded.stock)
                    for name in names:
                        self.db.track(raw, TRACKING_PREFIX + name + suffix, folded.last)
                done += folded.count
                if progress:
                    progress(done, max(head, folded.last))
        self.ensure_tables(suffix, tables=False, names=names)
        if not swap:
            return done
        with self.db.transaction() as (c, _):
            self._swap(c, names, suffix)
        return done + self.catch_up()  # what was appended meanwhile, into the swapped-in tables

    @contextmanager
    def _folded(self, names: list[str], head: int) -> Iterator[Iterator[FoldedBatch]]:
        """The log folded from its start, batch by batch: in a worker process for a long
        log (decoding and folding then run beside the writes), here for a short one (a
        process costs ~1 s to start)."""
        make = partial(LogFolder, names=tuple(names))
        if head < self.worker_min_events:
            yield self._fold_here(make(self.app))
            return
        with LogFeed("rebuild's fold", dict(self.app.env), 0, self.batch_size, make,
                     cycles=False) as feed:
            yield iter(feed.receive, None)

    def _fold_here(self, fold: LogFolder) -> Iterator[FoldedBatch]:
        for batch in self.app.journey_recorder.read_log_batches(0, self.batch_size):
            yield fold(batch)

    def _swap(self, c: Any, names: list[str], suffix: str) -> None:
        """Replace the live tables by the rebuilt ones: one transaction, readers never wait."""
        live = self.db.tables()
        for name in names:
            for table in PROJECTIONS[name]:
                c.execute(f"DROP TABLE IF EXISTS {getattr(live, table)}")
                c.execute(f"ALTER TABLE {getattr(self.db.tables(suffix), table)} "
                          f"RENAME TO {table}")
            c.execute(self.db.sql(f"DELETE FROM {self.db.tracking_table} "
                                  "WHERE application_name = ?"), (TRACKING_PREFIX + name,))
            c.execute(self.db.sql(f"UPDATE {self.db.tracking_table} SET application_name = ? "
                                  "WHERE application_name = ?"),
                      (TRACKING_PREFIX + name, TRACKING_PREFIX + name + suffix))
        log.info("views.swapped", views=names)


@contextmanager
def view_queries(app: JourneyApplication) -> Iterator[Any]:
    """Typed queries over the live views, in one read transaction."""
    from journey.projections.queries import ViewQueries

    db = ViewDb(app)
    if not _views_current(app, db):
        Projector(app)  # nothing projected yet (empty views, not an error), or older tables
    with app.journey_recorder.read_rows() as c:
        yield ViewQueries(c, db.sql, db.tables())


def _views_current(app: JourneyApplication, db: ViewDb) -> bool:
    """Every view table is there, in its current layout (no write needed to query)."""
    try:
        with app.journey_recorder._read() as c:
            for tables in PROJECTIONS.values():
                for table in tables:
                    c.execute(f"SELECT 1 FROM {getattr(db.tables(), table)} LIMIT 0")
            return "window_qty" in db.columns(c, "view_stock")
    except Exception:  # the driver's "no such table", whichever the dialect
        return False
