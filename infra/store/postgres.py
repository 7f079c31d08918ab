"""The PostgreSQL recorder: the library's table lock, our rows and events in one transaction."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from journey.infra.store.chain import oid_text
from journey.infra.store.errors import LeaseHeld
from journey.infra.store.identifiers import pg_identifier
from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.rows import BatchRecords


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
            ), key_checked=records is not None)
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

