"""The PostgreSQL recorder: the library's table lock, our rows and events in one transaction."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from journey.infra.store import pg_batch
from journey.infra.store.errors import LeaseHeld
from journey.infra.store.identifiers import pg_identifier
from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.rows import (
    AcceptedRow,
    BatchRecords,
    ChainInput,
    EventRow,
    LogEntry,
    RejectRow,
)


class JourneyPostgresRecorder(JourneyRecorderMixin, PostgresApplicationRecorder):
    """PostgreSQL recorder: table lock, position check, our rows and events in one transaction."""

    postgres = True
    ph = "%s"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every name in our SQL is quoted by psycopg.sql.Identifier (the schema name is also
        # validated where the store URL is parsed: see urls.schema_name).
        self.schema_prefix = f"{pg_identifier(self.datastore.schema)}."
        self.events_sql = self.qualified(self.events_table_name)
        self.position_sql = "notification_id"
        self.touchpoints_sql = self.qualified("journey_touchpoints")
        self.rejects_sql = self.qualified("journey_rejects")
        self.runs_sql = self.qualified("journey_ingest_runs")
        self.chain_sql = self.qualified("journey_chain")
        self.seals_sql = self.qualified("journey_seals")
        self.audit_key_sql = self.qualified("journey_audit_key")
        self.offsets_sql = self.qualified("journey_offsets")
        self.relay_sql = self.qualified("journey_relay")
        self.relay_acks_sql = self.qualified("journey_relay_acks")
        self.uuid_ids = self.datastore.originator_id_type == "uuid"
        self.hex_ids = self.uuid_ids  # the chain hashes a uuid as 32 hex digits
        # The library's lock statements and the position read under the lock, one round trip
        # (no parameters: a multi-statement query); with NOTIFY when the batch has events.
        lock = SQL("; ").join(self.lock_table_statements)
        self.lock_and_position = SQL("{}; {}").format(lock, self.max_notification_id_statement)
        self.lock_notify_and_position = SQL("{}; NOTIFY {}; {}").format(
            lock, Identifier(self.channel_name), self.max_notification_id_statement)
        self.sql_create_statements.extend(
            SQL(s).format() for s in self.journey_table_statements()  # format() -> Composed
        )

    def qualified(self, table: str) -> str:
        return pg_identifier(self.datastore.schema, table)

    def journey_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.touchpoints_sql} ("
            "touchpoint_id text PRIMARY KEY, content_hash bytea NOT NULL, type text NOT NULL, "
            "recorded_at text NOT NULL, source text)",
            f"CREATE TABLE IF NOT EXISTS {self.rejects_sql} ("
            "seq bigserial PRIMARY KEY, touchpoint_id text, reason text NOT NULL, "
            "detail text NOT NULL, raw bytea NOT NULL, recorded_at text NOT NULL, source text, "
            "accepted_before integer)",
            # Whether a reject is open: one probe (an older store gets it when opened).
            "CREATE INDEX IF NOT EXISTS journey_rejects_by_touchpoint ON "
            f"{self.rejects_sql} (touchpoint_id, seq)",
            f"CREATE TABLE IF NOT EXISTS {self.runs_sql} ("
            "run_id text PRIMARY KEY, source text NOT NULL, bytes_done bigint NOT NULL, "
            "prefix_sha256 text NOT NULL, counts text NOT NULL, completed integer NOT NULL, "
            "updated_at text NOT NULL)",
            # The latest run of a source (a file, an intake request's key): one probe.
            "CREATE INDEX IF NOT EXISTS journey_ingest_runs_by_source ON "
            f"{self.runs_sql} (source, updated_at)",
            f"CREATE TABLE IF NOT EXISTS {self.chain_sql} ("
            "position bigint PRIMARY KEY, hash bytea NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.seals_sql} ("
            "position bigint PRIMARY KEY, mac bytea NOT NULL, sealed_at text)",
            f"CREATE TABLE IF NOT EXISTS {self.audit_key_sql} ("
            "id integer PRIMARY KEY CHECK (id = 1), fingerprint text NOT NULL, "
            "recorded_at text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.offsets_sql} ("
            "consumer text NOT NULL, topic text NOT NULL, partition integer NOT NULL, "
            "next_offset bigint NOT NULL, high_water bigint NOT NULL, "
            "PRIMARY KEY (consumer, topic, partition))",
            f"CREATE TABLE IF NOT EXISTS {self.relay_sql} ("
            "name text PRIMARY KEY, position bigint NOT NULL, updated_at text NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.relay_acks_sql} ("
            "name text NOT NULL, topic text NOT NULL, partition integer NOT NULL, "
            "acked_end bigint NOT NULL, PRIMARY KEY (name, topic, partition))",
        ]

    def _insert_chain(self, c: Any, chain: list[tuple[int, bytes]],
                      seals: list[tuple[int, bytes]], now: str) -> None:
        copy_in(c, self.chain_sql, pg_batch.CHAIN_COLUMNS, pg_batch.chain_data(chain))
        c.execute(  # a few rows: one statement, not COPY's two round trips
            f"INSERT INTO {self.seals_sql} (position, mac, sealed_at) "
            "SELECT position, mac, %s FROM unnest(%s::bigint[], %s::bytea[]) AS s(position, mac)",
            (now, [p for p, _ in seals], [m for _, m in seals]),
        )

    def _insert_accepted(self, c: Any, rows: list[AcceptedRow], now: str) -> None:
        copy_in(c, self.touchpoints_sql, pg_batch.ACCEPTED_COLUMNS,
                pg_batch.accepted_data(rows, now))

    def _insert_rejects(self, c: Any, rows: list[RejectRow], now: str) -> None:
        # In decision order: COPY takes each row's seq from the sequence as it reads it.
        copy_in(c, self.rejects_sql, pg_batch.REJECT_COLUMNS, pg_batch.reject_data(rows, now))

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
                with self._write() as c:  # a store of an older engine gets the new columns
                    self.upgrade_journey_tables(c)
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

    @contextmanager
    def view_transaction(self) -> Iterator[tuple[Any, Any]]:
        # An advisory lock per schema serializes the views' writers (not the log's).
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SET LOCAL synchronous_commit = off")
            curs.execute("SELECT pg_advisory_xact_lock(%s)",
                         (zlib.crc32(f"journey-views{self.schema_prefix}".encode()),))
            yield TupleCursor(curs), curs

    def table_exists(self, c: Any, table: str) -> bool:
        c.execute("SELECT to_regclass(%s)", (self.qualified(table),))
        row = c.fetchone()
        return row is not None and row[0] is not None

    def columns(self, c: Any, table: str) -> set[str]:
        c.execute("SELECT column_name FROM information_schema.columns "
                  "WHERE table_schema = %s AND table_name = %s", (self.datastore.schema, table))
        return {row[0] for row in c.fetchall()}

    def _position(self, c: Any) -> int:
        c.execute(self.max_notification_id_statement)
        row = c.fetchone()
        value = row[0] if isinstance(row, tuple) else next(iter(row.values()))
        return int(value or 0)

    def insert_rows(self, rows: Sequence[EventRow], **kwargs: Any) -> list[int]:
        records: BatchRecords | None = kwargs.get("journey")
        with self.datastore.transaction(commit=True) as curs:
            c = TupleCursor(curs)
            before = self._lock(c, notify=bool(rows))
            if records is not None:
                self._write_records(c, records, before)
            if not rows:
                return []
            copy_in(c, self.events_sql, "(originator_id, originator_version, topic, state)",
                    pg_batch.event_data(rows, self.uuid_ids))
            ids = self._new_ids(c, before, len(rows))
            # The chain hashes a uuid as 32 hex digits (as the rows hold it), a text id as
            # written.
            self._append_chain(c, ids, cast("Sequence[ChainInput]", rows) if self.hex_ids else [
                (str(oid), version, topic, state) for oid, version, topic, state in rows
            ], key_checked=records is not None)
            return ids

    def stored_id(self, originator_id: UUID | str) -> UUID | str:
        return _uuid(originator_id).hex if self.hex_ids else originator_id

    def _lock(self, c: TupleCursor, notify: bool) -> int:
        """Take the table lock (the library's statements), NOTIFY the log's listeners if
        events follow, and read the position with the lock held: one round trip."""
        c.execute(self.lock_notify_and_position if notify else self.lock_and_position)
        while c.nextset():  # to the last statement's result: the position
            pass
        row = c.fetchone()
        return int(row[0] or 0) if row else 0

    def _new_ids(self, c: Any, before: int, count: int) -> list[int]:
        """The notification ids the rows just copied got, in the order they were copied.

        The table lock is held since ``before`` was the last id, so the rows after it are
        ours; COPY reads its rows in order and takes each one's id from the sequence as it
        reads it, so ascending ids are the rows in copy order. They are consecutive unless
        something else drew from the sequence meanwhile (a stray ``nextval``): then they
        are read one by one."""
        c.execute(f"SELECT COUNT(*), MIN(notification_id), MAX(notification_id) "
                  f"FROM {self.events_sql} WHERE notification_id > %s", (before,))
        found, first, last = c.fetchone()
        if found != count:
            raise ProgrammingError(f"copied {count} events but found {found} new ids")
        if last - first + 1 == count:
            return list(range(first, last + 1))
        c.execute(f"SELECT notification_id FROM {self.events_sql} WHERE notification_id > %s "
                  "ORDER BY notification_id", (before,))
        return [row[0] for row in c.fetchall()]

    def position(self) -> int:
        row = self._one_statement(self.max_notification_id_statement)
        return int(row[0][0] or 0)

    def touchpoint_hashes(self, touchpoint_ids: Sequence[str]) -> dict[str, bytes]:
        if not touchpoint_ids:
            return {}
        rows = self._one_statement(
            f"SELECT touchpoint_id, content_hash FROM {self.touchpoints_sql} "
            "WHERE touchpoint_id = ANY(%s::text[])", (list(touchpoint_ids),))
        return {tid: bytes(digest) for tid, digest in rows}

    def histories(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        found: dict[UUID, list[StoredEvent]] = {}
        if not aggregate_ids:
            return found
        for oid, version, topic, state in self._one_statement(
                "SELECT originator_id, originator_version, topic, state "
                f"FROM {self.events_sql} WHERE originator_id = ANY(%s) "
                "ORDER BY originator_id, originator_version", (list(aggregate_ids),)):
            key = oid if isinstance(oid, UUID) else UUID(oid)
            found.setdefault(key, []).append(StoredEvent(key, version, topic, bytes(state)))
        return found

    def _one_statement(self, sql: Any, params: Any = None) -> list[tuple[Any, ...]]:
        """The rows of one read statement, outside a transaction (a statement sees one
        snapshot by itself: no BEGIN and ROLLBACK round trips), the batch's ids in one
        array (one query, whatever the batch's size), results in binary (no bytea to
        unescape)."""
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as c:
            c.execute(sql, params)
            rows: list[tuple[Any, ...]] = c.fetchall()
            return rows

    def read_log(self, c: Any, after: int, limit: int) -> list[LogEntry]:
        # The mixin's query, its results in binary: the states need no unescaping.
        c.execute(f"SELECT notification_id, originator_id, originator_version, topic, state "
                  f"FROM {self.events_sql} WHERE notification_id > %s "
                  "ORDER BY notification_id LIMIT %s", (after, limit), binary=True)
        return [LogEntry(*row) for row in c.fetchall()]


def copy_in(c: Any, table: str, columns: str, data: bytes) -> None:
    """``data`` (a whole binary COPY stream, see ``pg_batch``) into ``table`` (quoted SQL)."""
    with c.raw.copy(f"COPY {table} {columns} FROM STDIN (FORMAT binary)") as copy:
        copy.write(data)


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


class TupleCursor:
    """A cursor of the library's transaction (whose rows are dicts) returning tuples, for
    the SQL both dialects share; ``raw`` is the library's cursor."""

    def __init__(self, curs: Any) -> None:
        self.raw = curs
        self._curs = curs.connection.cursor(row_factory=tuple_row)

    def execute(self, sql: Any, params: Any = None, *, binary: bool | None = None) -> None:
        self._curs.execute(sql, params, binary=binary)

    def executemany(self, sql: Any, params: Iterable[Any]) -> None:
        self._curs.executemany(sql, params)

    def copy(self, statement: Any) -> Any:
        """psycopg's ``Cursor.copy`` (``projections.tables.insert_rows``)."""
        return self._curs.copy(statement)

    def nextset(self) -> bool | None:
        more: bool | None = self._curs.nextset()
        return more

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._curs.fetchone()
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._curs.fetchall()
        return rows
