"""The SQLite recorder: one ``executemany`` per batch, file locks beside the database."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import InterfaceError, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteTransaction,
)

from journey.infra.store.errors import LeaseHeld
from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.rows import BatchRecords, ChainInput, EventRow


def create_private_file(db_name: str) -> None:
    """Create the database file ``db_name`` with mode 0600 (a stricter umask: stricter) if it
    does not exist, so SQLite, which would create it 0644, opens ours; it gives its -wal and
    -shm files the database file's mode. An existing file is left as it is; a ``file:`` URI
    is left to SQLite."""
    if db_name.startswith("file:"):
        return
    # An existing file (FileExistsError) is kept; any other failure (no such directory, no
    # permission) is SQLite's to report when it connects, as it did before.
    with suppress(OSError):
        os.close(os.open(db_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


class ImmediateTransaction(SQLiteTransaction):
    """Take SQLite's write lock up front, so the position check sees the latest commit."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class StatementCachingPool(SQLiteConnectionPool):
    """eventsourcing's pool of SQLite connections, whose connections keep their statements.

    The library opens each connection with ``cached_statements=True``, which ``sqlite3`` reads
    as a cache of ONE statement: every other statement is parsed and planned again each time
    it runs. A query of the views runs five (BEGIN, the cache size, the positions, the head,
    the rows); with 128 kept, a timeline's read took 149 µs instead of 272 µs (measured on a
    store of 1M events). The rest is the library's ``_create_connection`` as it is (9.5.6)."""

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(database=self.db_name, uri=True, check_same_thread=False,
                                isolation_level=None, cached_statements=128,
                                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            cursor = c.cursor()
            cursor.execute("PRAGMA journal_mode;")
            if cursor.fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


class JourneySQLiteRecorder(JourneyRecorderMixin, SQLiteApplicationRecorder):
    """SQLite recorder: one ``executemany`` per batch instead of one ``execute`` per event."""

    ph = "?"
    hex_ids = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pool = self.datastore.pool
        if type(pool) is SQLiteConnectionPool:  # no connection made yet: its class swapped
            pool.__class__ = StatementCachingPool
        if not pool.is_sqlite_memory_mode:  # before the first connection
            create_private_file(pool.db_name)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.journey_table_statements()]

    def journey_table_statements(self) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS journey_touchpoints ("
            "touchpoint_id TEXT PRIMARY KEY, content_hash BLOB NOT NULL, type TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, source TEXT)",
            "CREATE TABLE IF NOT EXISTS journey_rejects ("
            "seq INTEGER PRIMARY KEY AUTOINCREMENT, touchpoint_id TEXT, reason TEXT NOT NULL, "
            "detail TEXT NOT NULL, raw BLOB NOT NULL, recorded_at TEXT NOT NULL, source TEXT, "
            "accepted_before INTEGER)",
            # Whether a reject is open (a later reject of its touchpoint_id?): one probe.
            # IF NOT EXISTS: a store of an older engine gets it when opened.
            "CREATE INDEX IF NOT EXISTS journey_rejects_by_touchpoint ON journey_rejects "
            "(touchpoint_id, seq)",
            "CREATE TABLE IF NOT EXISTS journey_ingest_runs ("
            "run_id TEXT PRIMARY KEY, source TEXT NOT NULL, bytes_done INTEGER NOT NULL, "
            "prefix_sha256 TEXT NOT NULL, counts TEXT NOT NULL, completed INTEGER NOT NULL, "
            "updated_at TEXT NOT NULL)",
            # The latest run of a source (a file, an intake request's key): one probe.
            "CREATE INDEX IF NOT EXISTS journey_ingest_runs_by_source ON journey_ingest_runs "
            "(source, updated_at)",
            # INTEGER PRIMARY KEY (64-bit) makes the position the rowid: no second index.
            "CREATE TABLE IF NOT EXISTS journey_chain ("
            "position INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
            "CREATE TABLE IF NOT EXISTS journey_seals ("
            "position INTEGER PRIMARY KEY, mac BLOB NOT NULL, sealed_at TEXT)",
            # The fingerprint of the key the seals are made with (one row, see chain.py).
            "CREATE TABLE IF NOT EXISTS journey_audit_key ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS journey_offsets ("
            "consumer TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "next_offset INTEGER NOT NULL, high_water INTEGER NOT NULL, "
            "PRIMARY KEY (consumer, topic, partition))",
            "CREATE TABLE IF NOT EXISTS journey_relay ("
            "name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at TEXT NOT NULL)",
            # Per relay, topic and partition: the offset after the last message the broker
            # acknowledged (a broker that later has less has lost data: infra.kafka.losses).
            "CREATE TABLE IF NOT EXISTS journey_relay_acks ("
            "name TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "acked_end INTEGER NOT NULL, PRIMARY KEY (name, topic, partition))",
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
            with self._write() as c:  # a store of an older engine gets the new columns
                self.upgrade_journey_tables(c)

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
        # Read-only is enough for flock, and lets another user's process lock a 0400 file.
        fd = os.open(f"{self.datastore.pool.db_name}.{suffix}",
                     os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise LeaseHeld(f"another process holds the {what}") from exc
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    #: WAL pages after which a view transaction's commit checkpoints (the log's: SQLite's
    #: 1000). The views' transactions rewrite the same pages (counts, indexes) again and
    #: again; checkpointed less often, each page is copied back once for many commits.
    #: Measured on the Kafka view worker (195,738 events, 20,000 per transaction, four
    #: alternating pairs): CPU 11.4 -> 9.6 s with the larger batch together.
    view_checkpoint_pages = 10_000

    @contextmanager
    def view_transaction(self) -> Iterator[tuple[Any, Any]]:
        # SQLite's write lock serializes the views' writers with every other writer; WAL
        # mode makes synchronous = NORMAL safe against corruption, not against losing the
        # last commits (see JourneyRecorderMixin.view_transaction).
        with self.datastore.get_connection(commit=True) as conn:
            settings = conn.cursor()  # outside a transaction: SQLite refuses it inside one
            settings.execute("PRAGMA synchronous = NORMAL")
            settings.execute(f"PRAGMA wal_autocheckpoint = {self.view_checkpoint_pages}")
            try:
                with ImmediateTransaction(conn, commit=True) as c, c:
                    c.execute(f"PRAGMA cache_size = -{self.page_cache_kib}")
                    yield self.positional(c), c
            finally:  # the pooled connection goes back to writing the log: full durability
                settings.execute("PRAGMA synchronous = FULL")
                settings.execute("PRAGMA wal_autocheckpoint = 1000")

    def table_exists(self, c: Any, table: str) -> bool:
        c.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return c.fetchone() is not None

    def columns(self, c: Any, table: str) -> set[str]:
        c.execute("SELECT name FROM pragma_table_info(?)", (table,))
        return {row[0] for row in c.fetchall()}

    def insert_rows(self, rows: Sequence[EventRow], **kwargs: Any) -> list[int]:
        with (
            self.datastore.get_connection(commit=True) as conn,
            ImmediateTransaction(conn, commit=True) as c,
            c,
        ):
            return self._insert_rows(self._tuned(c), rows, **kwargs)

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        return self._insert_rows(c, [(self.stored_id(s.originator_id), s.originator_version,
                                      s.topic, s.state) for s in stored_events], **kwargs)

    def _insert_rows(self, c: SQLiteCursor, rows: Sequence[EventRow], **kwargs: Any
                     ) -> list[int]:
        records: BatchRecords | None = kwargs.get("journey")
        if records is not None:
            self._write_records(c, records)
        if not rows:
            return []
        c.executemany(self.insert_events_statement, rows)
        # The write lock is held, so the new rowids are the last len(rows) ones.
        last = self._position(c)
        ids = range(last - len(rows) + 1, last + 1)
        self._append_chain(c, ids, cast("Sequence[ChainInput]", rows),  # hex ids: hex_ids
                           key_checked=records is not None)
        return list(ids)
