"""Keeping the views current: catch-up, follow, rebuild. Exactly-once by construction.

Every batch of events is folded in memory and written together with each projection's
tracking position (eventsourcing's ``tracking`` table) in ONE transaction, which also
holds the store's write lock (SQLite) or a per-store advisory lock (PostgreSQL) so two
projectors never fold the same events. A kill at any point leaves either the batch
and its position, or neither: a restart resumes from the position, never double-counts.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import structlog
from eventsourcing.persistence import Notification, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import resolve_topic

from domain.stock import PartStock
from infra.store import (
    ImmediateTransaction,
    JourneyApplication,
    JourneyPostgresRecorder,
    TupleCursor,
)
from projections.stock import Pair, StockFold, blank_stock
from projections.tables import PROJECTIONS, Tables, create_statements
from projections.touchpoints import MemoryTouchpointState, Pending, TouchpointFold

log = structlog.get_logger("journey.views")

TRACKING_PREFIX = "view:"


class LogEntry(NamedTuple):
    """A row of the log as read; the folds need only ``id``, ``topic`` and ``state``."""

    id: int
    originator_id: Any  # hex text (SQLite) or UUID (PostgreSQL)
    originator_version: int
    topic: str
    state: bytes

    def notification(self) -> Notification:
        oid = self.originator_id
        return Notification(id=self.id, originator_id=oid if isinstance(oid, UUID) else UUID(oid),
                            originator_version=self.originator_version, topic=self.topic,
                            state=bytes(self.state))


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
        """(cursor with positional rows, the driver's cursor) in a locked write transaction."""
        if self.postgres:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema_prefix),))
                yield TupleCursor(curs), curs
        else:
            with (
                self.datastore.get_connection(commit=True) as conn,
                ImmediateTransaction(conn, commit=True) as c,
                c,
            ):
                c.execute("PRAGMA cache_size = -65536")
                yield c, c

    def notifications(self, c: Any, after: int, limit: int) -> list[LogEntry]:
        if self.postgres:
            c.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {self.recorder.events_sql} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT %s", (after, limit))
        else:
            c.execute("SELECT rowid, originator_id, originator_version, topic, state "
                      "FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                      (after, limit))
        return [LogEntry(*row) for row in c.fetchall()]

    def table_exists(self, c: Any, table: str) -> bool:
        if self.postgres:
            c.execute("SELECT to_regclass(%s)", (f"{self.schema_prefix}{table}",))
        else:
            c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (table,))
        row = c.fetchone()
        return row is not None and row[0] is not None

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


def write_touchpoints(db: ViewDb, c: Any, t: Tables, fold: TouchpointFold) -> None:
    ch = fold.changes
    q = db.sql
    if ch.rows:
        c.executemany(q(f"INSERT INTO {t.view_touchpoints} VALUES "
                        f"({','.join('?' * 17)})"), [r.as_tuple() for r in ch.rows.values()])
    if ch.codes:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET code = ? WHERE touchpoint_id = ?"),
                      [(code, tp_id) for tp_id, code in ch.codes.items()])
    if ch.failures:
        c.executemany(q(f"UPDATE {t.view_touchpoints} SET failure = 1 WHERE touchpoint_id = ?"),
                      [(tp_id,) for tp_id in ch.failures])
    if ch.repairs:
        c.executemany(q(f"INSERT INTO {t.view_repairs} VALUES (?,?,?)"), ch.repairs)
    if ch.fixed:
        c.executemany(q(f"INSERT INTO {t.view_fixed} VALUES (?,?,?)"), ch.fixed)
    rates: dict[tuple[str, str], list[int]] = {}
    for (kind, month, column), n in ch.rates.items():
        rates.setdefault((kind, month), [0, 0])[column == "errors"] += n
    if rates:
        c.executemany(q(
            f"INSERT INTO {t.view_error_rates} AS r VALUES (?,?,?,?) ON CONFLICT (kind, month) "
            "DO UPDATE SET touchpoints = r.touchpoints + excluded.touchpoints, "
            "errors = r.errors + excluded.errors"),
            [(k, m, v[0], v[1]) for (k, m), v in rates.items()])
    if ch.by_code:
        c.executemany(q(
            f"INSERT INTO {t.view_error_codes} AS r VALUES (?,?) ON CONFLICT (code) "
            "DO UPDATE SET count = r.count + excluded.count"), list(ch.by_code.items()))
    demand: dict[str, list[int]] = {}
    for (month, column), n in ch.demand.items():
        demand.setdefault(month, [0, 0])[column == "failure"] += n
    if demand:
        c.executemany(q(
            f"INSERT INTO {t.view_failure_demand} AS r VALUES (?,?,?) ON CONFLICT (month) "
            "DO UPDATE SET contacts = r.contacts + excluded.contacts, "
            "failure = r.failure + excluded.failure"),
            [(m, v[0], v[1]) for m, v in demand.items()])


def write_stock(db: ViewDb, c: Any, t: Tables, fold: StockFold) -> None:
    ch = fold.changes
    q = db.sql
    if ch.stocks:
        c.executemany(q(
            f"INSERT INTO {t.view_stock} AS s VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (part_id, location) DO UPDATE SET on_hand = excluded.on_hand, "
            "reserved = excluded.reserved, backordered = excluded.backordered, "
            "reservations = excluded.reservations, backorders = excluded.backorders"),
            [(s.part_id, s.location, s.on_hand, s.reserved, s.backordered,
              json.dumps(s.reservations), json.dumps(s.backorders))
             for s in ch.stocks.values()])
    if ch.issues:
        c.executemany(q(
            f"INSERT INTO {t.view_stock_issues} AS i VALUES (?,?,?,?) "
            "ON CONFLICT (part_id, location, day) DO UPDATE SET qty = i.qty + excluded.qty"),
            [(*key, qty) for key, qty in ch.issues.items()])
    if ch.latest_day is not None:
        c.execute(q(
            f"INSERT INTO {t.view_stock_meta} AS m VALUES ('as_of_day', ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value WHERE excluded.value > m.value"),
            (ch.latest_day,))


class ViewDecoder:
    """Decodes stored events for the folds, converting only what views read.

    The library's mapper runs every value through the transcoder's hooks (UUIDs,
    Decimals, dates); the folds read plain fields and ``occurred_at``. Anything the
    shortcut cannot honour (upcasting, a cipher, compression) goes through the mapper.
    """

    def __init__(self, app: JourneyApplication) -> None:
        self.mapper = app.mapper
        self.shortcut = app.mapper.cipher is None and app.mapper.compressor is None
        self.classes: dict[str, Any] = {}

    def __call__(self, entry: LogEntry) -> Any:
        if not self.shortcut:
            return self.mapper.to_domain_event(entry.notification())
        cls = self.classes.get(entry.topic)
        if cls is None:
            cls = self.classes[entry.topic] = resolve_topic(entry.topic)
        state = json.loads(entry.state)
        if state.pop("class_version", 1) != getattr(cls, "class_version", 1):
            return self.mapper.to_domain_event(entry.notification())
        occurred = state.get("occurred_at")
        if occurred is not None:
            state["occurred_at"] = datetime.fromisoformat(occurred["_data_"])
        event = cls.__new__(cls)
        event.__dict__.update(state)  # a frozen dataclass: fill it as the mapper would
        return event


# --- the runner -----------------------------------------------------------------------------------


class Projector:
    """Catches the views up with the log, follows it, and rebuilds them beside the live ones."""

    def __init__(self, app: JourneyApplication, batch_size: int = 5000) -> None:
        self.app = app
        self.db = ViewDb(app)
        self.batch_size = batch_size
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
                    continue
                for statement in statements:
                    is_index = statement.startswith("CREATE INDEX")
                    if (is_index and indexes) or (not is_index and tables):
                        c.execute(statement)

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Fold every event not yet in the views; returns how many events were read."""
        done = 0
        while True:
            with self.db.transaction() as (c, raw):
                t = self.db.tables()
                positions = {name: self.db.position(c, TRACKING_PREFIX + name)
                             for name in PROJECTIONS}
                start = min(positions.values())
                batch = self.db.notifications(c, start, self.batch_size)
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
                write_touchpoints(self.db, c, t, touchpoints)
                write_stock(self.db, c, t, stock)
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
        # Bulk-load without secondary indexes, build them once, then catch up and swap.
        self.ensure_tables(suffix, indexes=False, names=names)
        indexed = False
        state = MemoryTouchpointState()  # complete: the new tables start empty
        stocks: dict[Pair, PartStock] = {}
        position, done, head = 0, 0, self.app.journey_recorder.position()
        while True:
            with self.db.transaction() as (c, raw):
                batch = self.db.notifications(c, position, self.batch_size)
                if batch:
                    self._fold_into(c, raw, next_t, names, batch, state, stocks, suffix)
                    position, done = batch[-1].id, done + len(batch)
                elif indexed and (not swap or self._swap(c, names, suffix)):
                    return done
            if not batch and not indexed:
                self.ensure_tables(suffix, tables=False, names=names)
                indexed = True
            if progress:
                progress(done, max(head, position))

    def _fold_into(self, c: Any, raw: Any, t: Tables, names: list[str],
                   batch: list[LogEntry], state: MemoryTouchpointState,
                   stocks: dict[Pair, PartStock], suffix: str) -> None:
        events = [(n.id, self.decode(n)) for n in batch]
        if "touchpoints" in names:
            fold = TouchpointFold(state)
            for seq, event in events:
                fold.apply(event, seq)
            write_touchpoints(self.db, c, t, fold)
        if "stock" in names:
            stock_fold = StockFold(stocks.get)
            for _, event in events:
                stock_fold.apply(event)
            stocks.update(stock_fold.changes.stocks)
            write_stock(self.db, c, t, stock_fold)
        for name in names:
            self.db.track(raw, TRACKING_PREFIX + name + suffix, batch[-1].id)

    def _swap(self, c: Any, names: list[str], suffix: str) -> bool:
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
        return True


@contextmanager
def log_wake_ups(app: JourneyApplication) -> Iterator[Callable[[float], None]]:
    """``wait(timeout)``: returns when the log may have grown, or after ``timeout`` seconds.

    PostgreSQL wakes us through the recorder's LISTEN/NOTIFY channel (``timeout`` is
    then only a safety net); SQLite has no notifications, so the caller polls.
    """
    if not isinstance(app.journey_recorder, JourneyPostgresRecorder):
        yield time.sleep
        return
    import psycopg

    recorder: Any = app.recorder
    env = app.env
    with psycopg.connect(
        dbname=env.get("POSTGRES_DBNAME"), host=env.get("POSTGRES_HOST"),
        port=env.get("POSTGRES_PORT"), user=env.get("POSTGRES_USER"),
        password=env.get("POSTGRES_PASSWORD") or None, autocommit=True,
    ) as conn:
        conn.execute(f'LISTEN "{recorder.channel_name}"')

        def wait(timeout: float) -> None:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                pass

        yield wait


@contextmanager
def view_queries(app: JourneyApplication) -> Iterator[Any]:
    """Typed queries over the live views, in one read transaction."""
    from projections.queries import ViewQueries

    db = ViewDb(app)
    if not _views_exist(app, db):
        Projector(app)  # a store nothing was projected into yet: empty views, not an error
    with app.journey_recorder._read() as c:
        yield ViewQueries(c, db.sql, db.tables())


def _views_exist(app: JourneyApplication, db: ViewDb) -> bool:
    try:
        with app.journey_recorder._read() as c:
            for tables in PROJECTIONS.values():
                for table in tables:
                    c.execute(f"SELECT 1 FROM {getattr(db.tables(), table)} LIMIT 0")
    except Exception:  # the driver's "no such table", whichever the dialect
        return False
    return True
