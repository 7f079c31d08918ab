"""The event store: eventsourcing on SQLite or PostgreSQL, plus the engine's own tables.

Besides the library's ``stored_events`` the recorders keep two tables, written
in the same transaction as the events of a batch:

``journey_touchpoints``  one row per accepted touchpoint (idempotency key, content hash)
``journey_rejects``      one row per rejected line, in arrival order, with the raw bytes
``journey_chain``        one row per event: the audit hash chain (see ``infra.chain``)
``journey_seals``        HMAC seals of the chain: each batch's last position, every SEAL_EVERY
``journey_offsets``      per Kafka consumer, topic and partition: the next offset to read (and
                         the highest notification id applied), written in the consumer's
                         own transaction so a restart neither loses nor repeats a message
``journey_relay``        the relay's position in the log: the last event the broker acknowledged

A batch is appended with the log position its decisions were based on; if
another writer appended in between, the transaction fails with
``PositionConflict`` and the batch is decided again on fresh state. That makes
concurrent writers serializable without holding a lock while deciding.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Notification,
    PersistenceError,
    StoredEvent,
    Transcoding,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteTransaction
from psycopg.sql import SQL, Identifier

from journey.domain.errors import JourneyError
from journey.infra.chain import (
    ZERO_HASH,
    audit_key,
    crosses_seal_mark,
    link,
    oid_text,
    seal_mac,
)
from journey.infra.settings import AUDIT_SECRET_ENV

CHUNK = 500  # ids per IN (...) query


class StoreError(JourneyError):
    """The event store cannot be reached or used."""


class PositionConflict(IntegrityError, JourneyError):
    """Another writer appended to the log after this batch was decided."""


class LeaseHeld(StoreError):
    """Another process holds the lease (e.g. another relay is publishing)."""


class AuditChainError(StoreError):
    """The audit chain cannot be extended: it is ahead of the log (rows were deleted)."""


#: (position, originator_id as 32 hex digits, originator_version, topic, state)
ChainInput = tuple[int, str, int, str, bytes]


@dataclass(frozen=True, slots=True)
class AcceptedRow:
    touchpoint_id: str
    content_hash: bytes
    type: str


@dataclass(frozen=True, slots=True)
class RejectRow:
    touchpoint_id: str | None
    reason: str
    detail: str
    raw: bytes
    seq: int = 0
    recorded_at: str = ""


@dataclass(slots=True)
class RunCheckpoint:
    """How far an ingest of a file got: committed with each batch, so a re-run can resume."""

    run_id: str
    source: str
    bytes_done: int
    prefix_sha256: str
    counts: dict[str, Any]
    completed: bool = False


@dataclass(frozen=True, slots=True)
class OffsetRow:
    """Where a Kafka consumer is in one partition: committed with what it read."""

    topic: str
    partition: int
    next_offset: int
    high_water: int = 0  # the highest notification id applied from it (views: duplicates)


@dataclass(slots=True)
class BatchRecords:
    """What a batch writes besides its events, and the position it was decided at."""

    expected_position: int
    accepted: list[AcceptedRow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    checkpoint: RunCheckpoint | None = None
    offsets: tuple[str, list[OffsetRow]] | None = None  # (consumer, rows)


def _now() -> str:
    return datetime.now(UTC).isoformat()


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


class JourneyRecorderMixin:
    """Queries and writes shared by both dialects (placeholders differ)."""

    ph = "?"
    events_table_name: str
    #: Qualified table names (PostgreSQL adds the schema).
    events_sql = "stored_events"
    #: The events' notification id (log position) column.
    position_sql = "rowid"
    touchpoints_sql = "journey_touchpoints"
    rejects_sql = "journey_rejects"
    runs_sql = "journey_ingest_runs"
    chain_sql = "journey_chain"
    seals_sql = "journey_seals"
    offsets_sql = "journey_offsets"
    relay_sql = "journey_relay"
    #: HMAC key of the seals; the application sets it from JOURNEY_AUDIT_SECRET.
    seal_key: bytes = audit_key(None)
    seal_key_is_default: bool = True

    def journey_table_statements(self) -> list[str]:
        raise NotImplementedError

    @contextmanager
    def _read(self) -> Iterator[Any]:
        raise NotImplementedError

    def _position(self, c: Any) -> int:
        raise NotImplementedError

    def read_log(self, c: Any, after: int, limit: int) -> list[LogEntry]:
        """Up to ``limit`` rows of the log after notification id ``after``, in log order
        (``c``: a positional cursor, see ``read_rows``)."""
        c.execute(f"SELECT {self.position_sql}, originator_id, originator_version, topic, state "
                  f"FROM {self.events_sql} WHERE {self.position_sql} > {self.ph} "
                  f"ORDER BY {self.position_sql} LIMIT {self.ph}", (after, limit))
        return [LogEntry(*row) for row in c.fetchall()]

    def read_log_batches(self, after: int = 0, limit: int = 5000
                         ) -> Iterator[list[LogEntry]]:
        """The log after notification id ``after``, in log order, in batches of up to
        ``limit``, each read in a read transaction of its own."""
        while True:
            with self.read_rows() as c:
                batch = self.read_log(c, after, limit)
            if not batch:
                return
            yield batch
            after = batch[-1].id

    @contextmanager
    def read_rows(self) -> Iterator[Any]:
        """A read transaction whose cursor returns plain positional rows (tuples)."""
        with self._read() as c:
            yield self.positional(c)

    def positional(self, c: Any) -> Any:
        """The cursor ``c`` (of this recorder's transactions) returning tuples."""
        return c

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Held by a writer from reading the position to committing its batch.

        The position check alone keeps concurrent writers correct; this lock keeps them
        making progress (an optimistic loser could otherwise be starved by a fast winner).
        """
        raise NotImplementedError

    def position(self) -> int:
        """The highest notification id in the log (0 when empty)."""
        with self._read() as c:
            return self._position(c)

    def _write_records(self, c: Any, records: BatchRecords) -> None:
        actual = self._position(c)
        if actual != records.expected_position:
            raise PositionConflict(
                f"log moved from {records.expected_position} to {actual} while deciding"
            )
        now = _now()
        if records.accepted:
            c.executemany(
                f"INSERT INTO {self.touchpoints_sql} (touchpoint_id, content_hash, type, "
                f"recorded_at) VALUES ({self.ph},{self.ph},{self.ph},{self.ph})",
                [(a.touchpoint_id, a.content_hash, a.type, now) for a in records.accepted],
            )
        if records.rejects:
            # Text columns (PostgreSQL's refuse NUL) get a visible stand-in; raw keeps the bytes.
            c.executemany(
                f"INSERT INTO {self.rejects_sql} (touchpoint_id, reason, detail, raw, recorded_at) "
                f"VALUES ({self.ph},{self.ph},{self.ph},{self.ph},{self.ph})",
                [(_text(r.touchpoint_id), r.reason, _text(r.detail), r.raw, now)
                 for r in records.rejects],
            )
        if records.checkpoint is not None:
            self._save_checkpoint(c, records.checkpoint)
        if records.offsets is not None:
            self.save_offsets(c, *records.offsets)

    def _append_chain(self, c: Any, rows: list[ChainInput]) -> None:
        """Chain (and seal) a batch's new event rows, ordered by position, in its transaction.

        Called with the write lock held, after the events are inserted: nobody else can
        extend the chain in between, so its last row is the predecessor of the first one.
        """
        c.execute(f"SELECT position, hash FROM {self.chain_sql} ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        previous, prev = (int(head[0]), bytes(head[1])) if head else (0, ZERO_HASH)
        if rows[0][0] <= previous:
            raise AuditChainError(
                f"the audit chain reaches position {previous} but the log hands out "
                f"{rows[0][0]}: events were deleted from the log; run journey audit verify"
            )
        key = self.seal_key
        chain: list[tuple[int, bytes]] = []
        seals: list[tuple[int, bytes]] = []
        for position, oid, version, topic, state in rows:
            prev = link(prev, position, oid, version, topic, state)
            chain.append((position, prev))
            if crosses_seal_mark(previous, position):
                seals.append((position, seal_mac(key, position, prev)))
            previous = position
        if not seals or seals[-1][0] != previous:
            seals.append((previous, seal_mac(key, previous, prev)))  # the batch's last
        self._insert_chain(c, chain, seals, _now())

    def _insert_chain(self, c: Any, chain: list[tuple[int, bytes]],
                      seals: list[tuple[int, bytes]], now: str) -> None:
        p = self.ph
        c.executemany(f"INSERT INTO {self.chain_sql} (position, hash) VALUES ({p},{p})", chain)
        c.executemany(
            f"INSERT INTO {self.seals_sql} (position, mac, sealed_at) VALUES ({p},{p},{p})",
            [(position, mac, now) for position, mac in seals],
        )

    def _save_checkpoint(self, c: Any, cp: RunCheckpoint) -> None:
        p = self.ph
        c.execute(
            f"INSERT INTO {self.runs_sql} (run_id, source, bytes_done, prefix_sha256, counts, "
            f"completed, updated_at) VALUES ({p},{p},{p},{p},{p},{p},{p}) "
            "ON CONFLICT (run_id) DO UPDATE SET bytes_done = EXCLUDED.bytes_done, "
            "prefix_sha256 = EXCLUDED.prefix_sha256, counts = EXCLUDED.counts, "
            "completed = EXCLUDED.completed, updated_at = EXCLUDED.updated_at",
            (cp.run_id, cp.source, cp.bytes_done, cp.prefix_sha256, json.dumps(cp.counts),
             int(cp.completed), _now()),
        )

    def unfinished_run(self, source: str) -> RunCheckpoint | None:
        """The latest ingest of ``source`` that did not finish (crashed or killed), if any."""
        with self._read() as c:
            c.execute(
                "SELECT run_id, source, bytes_done, prefix_sha256, counts, completed "
                f"FROM {self.runs_sql} WHERE source = {self.ph} "
                "ORDER BY updated_at DESC LIMIT 1",
                (source,),
            )
            row = c.fetchone()
        if row is None or row[5]:
            return None
        return RunCheckpoint(row[0], row[1], int(row[2]), row[3], json.loads(row[4]))

    def finish_run(self, checkpoint: RunCheckpoint) -> None:
        """Mark an ingest run complete (a later run of the same file starts afresh)."""
        checkpoint.completed = True
        with self._write() as c:
            self._save_checkpoint(c, checkpoint)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        raise NotImplementedError

    # --- Kafka consumers and the relay -------------------------------------------------------

    def save_offsets(self, c: Any, consumer: str, rows: Iterable[OffsetRow]) -> None:
        """Record, in the caller's transaction ``c``, how far ``consumer`` has read."""
        p = self.ph
        c.executemany(
            f"INSERT INTO {self.offsets_sql} (consumer, topic, partition, next_offset, "
            f"high_water) VALUES ({p},{p},{p},{p},{p}) ON CONFLICT (consumer, topic, partition) "
            "DO UPDATE SET next_offset = EXCLUDED.next_offset, "
            "high_water = EXCLUDED.high_water",
            [(consumer, r.topic, r.partition, r.next_offset, r.high_water) for r in rows],
        )

    def offsets(self, consumer: str, c: Any = None) -> dict[tuple[str, int], OffsetRow]:
        """Every partition ``consumer`` has committed here, keyed by (topic, partition)."""
        if c is None:
            with self._read() as c:
                return self.offsets(consumer, c)
        c.execute(f"SELECT topic, partition, next_offset, high_water FROM {self.offsets_sql} "
                  f"WHERE consumer = {self.ph}", (consumer,))
        return {(r[0], int(r[1])): OffsetRow(r[0], int(r[1]), int(r[2]), int(r[3]))
                for r in c.fetchall()}

    def relay_position(self, name: str) -> int:
        """The last notification id the relay ``name`` saw acknowledged (0: none)."""
        with self._read() as c:
            c.execute(f"SELECT position FROM {self.relay_sql} WHERE name = {self.ph}", (name,))
            row = c.fetchone()
        return int(row[0]) if row else 0

    def save_relay_position(self, name: str, position: int) -> None:
        p = self.ph
        with self._write() as c:
            c.execute(
                f"INSERT INTO {self.relay_sql} (name, position, updated_at) VALUES ({p},{p},{p}) "
                "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, "
                "updated_at = EXCLUDED.updated_at",
                (name, position, _now()),
            )

    @contextmanager
    def lease(self, name: str, wait: bool) -> Iterator[None]:
        """Hold the lease ``name`` (one holder per store) until the block ends or the holder
        dies; ``wait=False`` raises ``LeaseHeld`` at once if another process holds it."""
        raise NotImplementedError
        yield

    def touchpoint_hashes(self, touchpoint_ids: Sequence[str]) -> dict[str, bytes]:
        """Content hashes of the given touchpoint ids that were accepted before."""
        found: dict[str, bytes] = {}
        with self._read() as c:
            for chunk in _chunks(touchpoint_ids):
                c.execute(
                    f"SELECT touchpoint_id, content_hash FROM {self.touchpoints_sql} "
                    f"WHERE touchpoint_id IN ({','.join([self.ph] * len(chunk))})",
                    chunk,
                )
                found.update((row[0], bytes(row[1])) for row in c.fetchall())
        return found

    def histories(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """The stored events of many aggregates, each in version order, in few queries."""
        found: dict[UUID, list[StoredEvent]] = {}
        with self._read() as c:
            for chunk in _chunks(aggregate_ids):
                c.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_sql} WHERE originator_id IN "
                    f"({','.join([self.ph] * len(chunk))}) "
                    "ORDER BY originator_id, originator_version",
                    [self._id_param(i) for i in chunk],
                )
                for row in c.fetchall():
                    oid = row[0] if isinstance(row[0], UUID) else UUID(row[0])
                    found.setdefault(oid, []).append(
                        StoredEvent(oid, row[1], row[2], bytes(row[3]))
                    )
        return found

    def rejects(self, after: int = 0, limit: int = 10_000) -> list[RejectRow]:
        """Stored rejects in arrival order, ``limit`` at a time after sequence ``after``."""
        with self._read() as c:
            c.execute(
                "SELECT seq, touchpoint_id, reason, detail, raw, recorded_at "
                f"FROM {self.rejects_sql} "
                f"WHERE seq > {self.ph} ORDER BY seq LIMIT {self.ph}",
                (after, limit),
            )
            return [
                RejectRow(row[1], row[2], row[3], bytes(row[4]), row[0], str(row[5]))
                for row in c.fetchall()
            ]

    def counts(self) -> dict[str, int]:
        """Row counts of the engine's tables, for status and tests."""
        with self._read() as c:
            out = {}
            for name, table in (("events", self.events_sql),
                                ("touchpoints", self.touchpoints_sql),
                                ("rejects", self.rejects_sql)):
                c.execute(f"SELECT COUNT(*) FROM {table}")
                out[name] = int(c.fetchone()[0])
            return out

    def _id_param(self, aggregate_id: UUID) -> Any:
        return aggregate_id


def _text(value: str | None) -> str | None:
    return value if value is None or "\x00" not in value else value.replace("\x00", "\ufffd")


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield list(items[i : i + CHUNK])


class ImmediateTransaction(SQLiteTransaction):
    """Take SQLite's write lock up front, so the position check sees the latest commit."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class JourneySQLiteRecorder(JourneyRecorderMixin, SQLiteApplicationRecorder):
    """SQLite recorder: one ``executemany`` per batch instead of one ``execute`` per event."""

    ph = "?"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.journey_table_statements()]

    def journey_table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS journey_touchpoints ("
            "touchpoint_id TEXT PRIMARY KEY, content_hash BLOB NOT NULL, type TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS journey_rejects ("
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, touchpoint_id TEXT, reason TEXT NOT NULL, "
            "detail TEXT NOT NULL, raw BLOB NOT NULL, recorded_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS journey_ingest_runs ("
            "run_id TEXT PRIMARY KEY, source TEXT NOT NULL, bytes_done INTEGER NOT NULL, "
            "prefix_sha256 TEXT NOT NULL, counts TEXT NOT NULL, completed INTEGER NOT NULL, "
            "updated_at TEXT NOT NULL)",
            # INTEGER PRIMARY KEY (64-bit) makes the position the rowid: no second index.
            "CREATE TABLE IF NOT EXISTS journey_chain ("
            "position INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
            "CREATE TABLE IF NOT EXISTS journey_seals ("
            "position INTEGER PRIMARY KEY, mac BLOB NOT NULL, sealed_at TEXT)",
            "CREATE TABLE IF NOT EXISTS journey_offsets ("
            "consumer TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "next_offset INTEGER NOT NULL, high_water INTEGER NOT NULL, "
            "PRIMARY KEY (consumer, topic, partition))",
            "CREATE TABLE IF NOT EXISTS journey_relay ("
            "name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at TEXT NOT NULL)",
        ]

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as c:
            yield c

    #: Page cache per connection, KiB. SQLite's default (2 MiB) is outgrown by the random
    #: inserts into the events' (uuid, version) primary key once a store passes ~50 MB.
    page_cache_kib = 65536

    def _tuned(self, c: SQLiteCursor) -> SQLiteCursor:
        # Pooled connections come and go; setting an unchanged size is a no-op (~2 µs).
        c.execute(f"PRAGMA cache_size = -{self.page_cache_kib}")
        return c

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as c:
            yield self._tuned(c)

    def positional(self, c: Any) -> Any:
        # The library's rows are sqlite3.Row: built and unpacked ~1.6x slower than tuples.
        raw: sqlite3.Cursor = c.sqlite_cursor
        raw.row_factory = None
        return raw

    def _position(self, c: Any) -> int:
        c.execute(self.select_max_notification_id_statement)
        return int(c.fetchone()[0] or 0)

    def _id_param(self, aggregate_id: UUID) -> Any:
        return aggregate_id.hex

    def create_table(self) -> None:
        # The library creates tables in a deferred transaction, which SQLite refuses to
        # upgrade to a write while another process creates them ("database is locked").
        with self.writer_lock():
            super().create_table()

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        with self._file_lock("writer-lock", wait=True, what="writer lock"):
            yield

    @contextmanager
    def lease(self, name: str, wait: bool) -> Iterator[None]:
        with self._file_lock(f"{name}-lease", wait=wait, what=f"{name} lease"):
            yield

    @contextmanager
    def _file_lock(self, suffix: str, wait: bool, what: str) -> Iterator[None]:
        """An exclusive ``flock`` on the file beside the database; the OS drops it if we die."""
        if self.datastore.pool.is_sqlite_memory_mode:
            yield  # one process only
            return
        with open(f"{self.datastore.pool.db_name}.{suffix}", "a+b") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise LeaseHeld(f"another process holds the {what}") from exc
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection(commit=True) as conn,
            ImmediateTransaction(conn, commit=True) as c,
            c,
        ):
            return self._insert_events(self._tuned(c), stored_events, **kwargs)

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        records: BatchRecords | None = kwargs.get("journey")
        if records is not None:
            self._write_records(c, records)
        if not stored_events:
            return []
        params = [(oid_text(s.originator_id), s.originator_version, s.topic, s.state)
                  for s in stored_events]
        c.executemany(self.insert_events_statement, params)
        # The write lock is held, so the new rowids are the last len(stored_events) ones.
        last = self._position(c)
        ids = list(range(last - len(stored_events) + 1, last + 1))
        self._append_chain(c, [(i, *row) for i, row in zip(ids, params, strict=True)])
        return ids


class JourneyPostgresRecorder(JourneyRecorderMixin, PostgresApplicationRecorder):
    """PostgreSQL recorder: table lock, position check, our rows and events in one transaction."""

    ph = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = f'"{self.datastore.schema}"'
        self.events_sql = f'{schema}."{self.events_table_name}"'
        self.position_sql = "notification_id"
        self.touchpoints_sql = f"{schema}.journey_touchpoints"
        self.rejects_sql = f"{schema}.journey_rejects"
        self.runs_sql = f"{schema}.journey_ingest_runs"
        self.chain_sql = f"{schema}.journey_chain"
        self.seals_sql = f"{schema}.journey_seals"
        self.offsets_sql = f"{schema}.journey_offsets"
        self.relay_sql = f"{schema}.journey_relay"
        # The library's insert returns only ids; ours also says which event got which id.
        self.insert_returning_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state "
            "FROM unnest(%s::{schema}.{stored_event_type}[]) "
            "RETURNING notification_id, originator_id, originator_version"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            stored_event_type=Identifier(self.stored_event_type_name),
        )
        self.sql_create_statements.extend(
            SQL(s).format() for s in self.journey_table_statements()  # format() -> Composed
        )

    def journey_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.touchpoints_sql} ("
            "touchpoint_id text PRIMARY KEY, content_hash bytea NOT NULL, type text NOT NULL, "
            "recorded_at text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.rejects_sql} ("
            "seq bigserial PRIMARY KEY, touchpoint_id text, reason text NOT NULL, "
            "detail text NOT NULL, raw bytea NOT NULL, recorded_at text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.runs_sql} ("
            "run_id text PRIMARY KEY, source text NOT NULL, bytes_done bigint NOT NULL, "
            "prefix_sha256 text NOT NULL, counts text NOT NULL, completed integer NOT NULL, "
            "updated_at text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.chain_sql} ("
            "position bigint PRIMARY KEY, hash bytea NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.seals_sql} ("
            "position bigint PRIMARY KEY, mac bytea NOT NULL, sealed_at text)",
            f"CREATE TABLE IF NOT EXISTS {self.offsets_sql} ("
            "consumer text NOT NULL, topic text NOT NULL, partition integer NOT NULL, "
            "next_offset bigint NOT NULL, high_water bigint NOT NULL, "
            "PRIMARY KEY (consumer, topic, partition))",
            f"CREATE TABLE IF NOT EXISTS {self.relay_sql} ("
            "name text PRIMARY KEY, position bigint NOT NULL, updated_at text NOT NULL)",
        ]

    def _insert_chain(self, c: Any, chain: list[tuple[int, bytes]],
                      seals: list[tuple[int, bytes]], now: str) -> None:
        # One statement per table, whatever the batch size. The hashes go as one bytea and the
        # positions as one text: adapting a 2000-element bytea[] costs ~3x as much.
        c.execute(
            f"INSERT INTO {self.chain_sql} (position, hash) "
            "SELECT p, substring(%s::bytea FROM i::int * 32 - 31 FOR 32) "
            "FROM unnest(string_to_array(%s, ',')::bigint[]) WITH ORDINALITY AS t(p, i)",
            (b"".join(h for _, h in chain), ",".join(str(p) for p, _ in chain)),
        )
        c.execute(
            f"INSERT INTO {self.seals_sql} (position, mac, sealed_at) "
            "SELECT position, mac, %s FROM unnest(%s::bigint[], %s::bytea[]) AS s(position, mac)",
            (now, [p for p, _ in seals], [m for _, m in seals]),
        )

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=True) as curs:
            yield TupleCursor(curs)

    def create_table(self) -> None:
        # Concurrent CREATE ... IF NOT EXISTS fails ("tuple concurrently updated"): serialize.
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(724210501)")
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(724210501)")

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self.datastore.transaction(commit=False) as curs:
            yield TupleCursor(curs)

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        key = zlib.crc32(self.events_sql.encode())  # one lock per schema
        with self._advisory_lock(key, wait=True, what="writer lock"):
            yield

    @contextmanager
    def lease(self, name: str, wait: bool) -> Iterator[None]:
        key = zlib.crc32(f"{self.events_sql}:{name}".encode())
        with self._advisory_lock(key, wait=wait, what=f"{name} lease"):
            yield

    @contextmanager
    def _advisory_lock(self, key: int, wait: bool, what: str) -> Iterator[None]:
        """A session lock on a pooled connection of its own: the server drops it if we die."""
        with self.datastore.get_connection() as conn:
            if wait:
                conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            else:
                row: Any = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok",
                                        (key,)).fetchone()
                if not row["ok"]:  # the pool's connections give dict rows
                    raise LeaseHeld(f"another process holds the {what}")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _position(self, c: Any) -> int:
        c.execute(self.max_notification_id_statement)
        row = c.fetchone()
        value = row[0] if isinstance(row, tuple) else next(iter(row.values()))
        return int(value or 0)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        records: BatchRecords | None = kwargs.get("journey")
        with self.datastore.transaction(commit=True) as curs:
            self._lock_table(curs)
            if records is not None:
                self._write_records(TupleCursor(curs), records)
            if not stored_events:
                return []
            self._notify_channel(curs)
            curs.execute(self.insert_returning_statement, (
                [self.construct_pg_stored_event(s.originator_id, s.originator_version, s.topic,
                                                s.state) for s in stored_events],
            ))
            given = {(oid_text(row["originator_id"]), row["originator_version"]):
                     row["notification_id"] for row in curs.fetchall()}
            ids = [given[oid_text(_uuid(s.originator_id)), s.originator_version]
                   for s in stored_events]
            self._append_chain(TupleCursor(curs), sorted(
                ((i, oid_text(_uuid(s.originator_id)), s.originator_version, s.topic, s.state)
                 for i, s in zip(ids, stored_events, strict=True)),
                key=lambda row: row[0],
            ))
            return ids


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


class TupleCursor:
    """Lets the shared SQL read rows by position from psycopg's dict rows."""

    def __init__(self, curs: Any) -> None:
        self._curs = curs

    def execute(self, sql: Any, params: Any = None) -> None:
        self._curs.execute(sql, params)

    def executemany(self, sql: Any, params: Iterable[Any]) -> None:
        self._curs.executemany(sql, params)

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._curs.fetchone()
        return None if row is None else tuple(row.values())

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self._curs.fetchall()]


# --- the application ---------------------------------------------------------------------------


class DateAsISO(Transcoding):
    """Calendar dates (``due_date``) as ``YYYY-MM-DD``."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class JourneyApplication(Application[UUID]):
    """The event-sourced application: its recorder is one of ours, chosen by the store URL."""

    name = "Journey"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        if isinstance(recorder, JourneyRecorderMixin):
            secret = dict.get(self.env, AUDIT_SECRET_ENV)  # unprefixed: exactly that variable
            recorder.seal_key = audit_key(secret)
            recorder.seal_key_is_default = not secret
        return recorder

    @property
    def journey_recorder(self) -> JourneyRecorderMixin:
        assert isinstance(self.recorder, JourneyRecorderMixin)
        return self.recorder


def store_env(url: str, audit_secret: str | None = None) -> dict[str, str]:
    """eventsourcing settings for a store URL (``sqlite:///PATH`` or ``postgresql://...``).

    ``audit_secret`` keys the audit chain's seals; ``None`` leaves it to the process
    environment (JOURNEY_AUDIT_SECRET; eventsourcing merges ``os.environ`` into the
    application's env), and without one there the public default is used.
    """
    env = _dialect_env(url)
    if audit_secret is not None:
        env[AUDIT_SECRET_ENV] = audit_secret
    return env


def _dialect_env(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
        if not path:
            raise StoreError(f"bad SQLite URL {url!r}: expected sqlite:///PATH")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "60",
            "APPLICATION_RECORDER_TOPIC": "journey.infra.store:JourneySQLiteRecorder",
        }
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
            "POSTGRES_CONNECT_TIMEOUT": "5",
            "POSTGRES_LOCK_TIMEOUT": "60",
            "POSTGRES_POOL_SIZE": "3",
            "APPLICATION_RECORDER_TOPIC": "journey.infra.store:JourneyPostgresRecorder",
        }
    raise StoreError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://...")


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


def open_store(url: str, audit_secret: str | None = None) -> JourneyApplication:
    """Open (creating tables if needed) the store at ``url``; errors become ``StoreError``.

    The audit seals are keyed with ``audit_secret`` (e.g. ``Settings.audit_secret``); ``None``
    reads JOURNEY_AUDIT_SECRET from the environment, as ``Settings.from_env`` does.
    """
    env = store_env(url, audit_secret)
    try:
        if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
            _ensure_schema(env)
        return JourneyApplication(env=env)
    except (PersistenceError, OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open store {_redact(url)}: {exc}") from exc


def _ensure_schema(env: dict[str, str]) -> None:
    schema = env["POSTGRES_SCHEMA"]
    if schema == "public":
        return
    import psycopg

    try:
        with psycopg.connect(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=5, autocommit=True,
        ) as conn:
            conn.execute("SELECT pg_advisory_lock(724210502)")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach PostgreSQL: {exc}") from exc


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
