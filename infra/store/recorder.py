"""What both recorders share: the log read in order, a batch's own rows written with its
events, the audit chain extended in the same transaction, and the engine's queries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from journey.infra.failpoints import failpoint
from journey.infra.store.bookkeeping import Bookkeeping
from journey.infra.store.chain import (
    DEFAULT_FINGERPRINT,
    ZERO_HASH,
    audit_key,
    batch_seals,
    key_fingerprint,
    links,
    seal_ok,
)
from journey.infra.store.errors import AuditChainError, AuditKeyMismatch, PositionConflict
from journey.infra.store.identifiers import quote_identifier
from journey.infra.store.rejects import RejectQueries
from journey.infra.store.rows import (
    AcceptedRow,
    BatchRecords,
    ChainInput,
    EventRow,
    LogEntry,
    RejectRow,
    chunks,
    now_text,
    text_column,
)
from journey.infra.store.tracking import ViewTracking

#: Columns added to the engine's tables after stores were written without them: (table,
#: column, type). New stores get them from the CREATE TABLE statements, old ones when opened.
ADDED_COLUMNS = (
    ("journey_touchpoints", "source", "TEXT"),  # provenance: file:line, topic/partition@offset
    ("journey_rejects", "source", "TEXT"),
    # 1: the touchpoint_id was accepted before the reject (4.9: it stays open); NULL: older
    # than the column (read as 1 for conflicting_duplicate, the one reason that says so).
    ("journey_rejects", "accepted_before", "INTEGER"),
)


class JourneyRecorderMixin(Bookkeeping, RejectQueries):
    """Queries and writes shared by both dialects (placeholders differ)."""

    #: Whether the dialect is PostgreSQL (asked without importing its module, and psycopg).
    postgres = False
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
    audit_key_sql = "journey_audit_key"
    offsets_sql = "journey_offsets"
    relay_sql = "journey_relay"
    #: HMAC key of the seals; the application sets it from JOURNEY_AUDIT_SECRET.
    seal_key: bytes = audit_key(None)
    seal_key_is_default: bool = True

    def journey_table_statements(self) -> list[str]:
        raise NotImplementedError

    def _position(self, c: Any) -> int:
        raise NotImplementedError

    #: The library's connection pool and transactions (set by the dialect's recorder).
    datastore: Any
    #: Prefix of the engine's table names in SQL (PostgreSQL: the quoted schema and a dot).
    schema_prefix = ""

    def sql(self, statement: str) -> str:
        """``statement``, written with ``?`` placeholders, in this dialect's style."""
        return statement if self.ph == "?" else statement.replace("?", self.ph)

    def qualified(self, table: str) -> str:
        """The table's name as SQL: quoted, and on PostgreSQL with the store's schema."""
        return quote_identifier(table)

    @cached_property
    def view_tracking(self) -> ViewTracking:
        """The views' tracking positions (their table is created by the projector)."""
        return ViewTracking(self.datastore, postgres=self.postgres, qualified=self.qualified)

    @contextmanager
    def view_transaction(self) -> Iterator[tuple[Any, Any]]:
        """(cursor with positional rows, the driver's cursor) in a write transaction that
        serializes the views' writers. View commits wait for the disk less than the log's:
        the views are derived and their tracking position commits with them, so a power
        loss can only take back their last commits, which the next catch-up makes again."""
        raise NotImplementedError
        yield

    def table_exists(self, c: Any, table: str) -> bool:
        """Whether the table (unqualified name) exists, in the transaction of ``c``."""
        raise NotImplementedError

    def columns(self, c: Any, table: str) -> set[str]:
        """The column names of a table (unqualified name)."""
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

    def position_in(self, c: Any) -> int:
        """The highest notification id in the log, read with ``c`` (a cursor of
        ``read_rows``), in that transaction."""
        return self._position(c)

    def _write_records(self, c: Any, records: BatchRecords, actual: int | None = None
                       ) -> None:
        """Check the position and write a batch's own rows (``actual``: the log's position
        if the caller has read it already, with the write lock held)."""
        if actual is None:
            actual = self._position(c)
        if actual != records.expected_position:
            raise PositionConflict(
                f"log moved from {records.expected_position} to {actual} while deciding"
            )
        self._check_seal_key(c)  # before anything is written, whether or not events follow
        now = now_text()
        if records.accepted:
            self._insert_accepted(c, records.accepted, now)
        if records.rejects:
            self._insert_rejects(c, records.rejects, now)
        if records.checkpoint is not None:
            self._save_checkpoint(c, records.checkpoint)
        if records.offsets is not None:
            self.save_offsets(c, *records.offsets)
        failpoint("store.in_transaction")  # the batch's rows written, its events not yet

    def _insert_accepted(self, c: Any, rows: list[AcceptedRow], now: str) -> None:
        """A batch's accepted touchpoints (PostgreSQL: by COPY)."""
        p = self.ph
        c.executemany(
            f"INSERT INTO {self.touchpoints_sql} (touchpoint_id, content_hash, type, "
            f"recorded_at, source) VALUES ({p},{p},{p},{p},{p})",
            [(a.touchpoint_id, a.content_hash, a.type, now, text_column(a.source))
             for a in rows],
        )

    def _insert_rejects(self, c: Any, rows: list[RejectRow], now: str) -> None:
        """A batch's rejects, in decision order (PostgreSQL: by COPY)."""
        p = self.ph
        # Text columns (PostgreSQL's refuse NUL) get a visible stand-in; raw keeps the bytes.
        c.executemany(
            f"INSERT INTO {self.rejects_sql} (touchpoint_id, reason, detail, raw, "
            f"recorded_at, source, accepted_before) VALUES ({p},{p},{p},{p},{p},{p},{p})",
            [(text_column(r.touchpoint_id), r.reason, text_column(r.detail), r.raw, now,
              text_column(r.source), int(r.accepted_before)) for r in rows],
        )

    #: Whether ``insert_rows`` takes originator ids as 32 hex digits, not UUIDs (as SQLite
    #: holds them and the chain hashes them; the event store writes them so in its pass).
    hex_ids = False

    def insert_rows(self, rows: Sequence[EventRow], **kwargs: Any) -> list[int]:
        """``insert_events`` of rows, not ``StoredEvent`` objects (``events.JourneyEventStore``
        writes them), their originator ids as ``stored_id`` gives them: the rows'
        notification ids, in order."""
        raise NotImplementedError

    def stored_id(self, originator_id: UUID | str) -> UUID | str:
        """An originator id as ``insert_rows`` takes it."""
        return originator_id.hex if self.hex_ids and isinstance(originator_id, UUID) \
            else originator_id

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        stored_id = self.stored_id
        return self.insert_rows([(stored_id(s.originator_id), s.originator_version, s.topic,
                                  s.state) for s in stored_events], **kwargs)

    def _append_chain(self, c: Any, positions: Sequence[int], rows: Sequence[ChainInput], *,
                      key_checked: bool = False) -> None:
        """Chain (and seal) a batch's new event rows at their positions (ascending), in its
        transaction.

        Called with the write lock held, after the events are inserted: nobody else can
        extend the chain in between, so its last row is the predecessor of the first one.
        """
        c.execute(f"SELECT position, hash FROM {self.chain_sql} ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        previous, prev = (int(head[0]), bytes(head[1])) if head else (0, ZERO_HASH)
        if positions[0] <= previous:
            raise AuditChainError(
                f"the audit chain reaches position {previous} but the log hands out "
                f"{positions[0]}: events were deleted from the log; run journey audit verify"
            )
        if not key_checked:  # else _write_records did, in this transaction
            self._check_seal_key(c)
        chain = links(prev, positions, rows)
        self._insert_chain(c, chain, batch_seals(self.seal_key, previous, chain), now_text())

    def _check_seal_key(self, c: Any) -> None:
        """Refuse to write with another key than the store's (one key per store, so seals
        are never mixed); record the key's fingerprint with the store's first write.

        A store sealed before fingerprints were recorded adopts the configured key only if
        its last seal authenticates with it.
        """
        fingerprint = key_fingerprint(self.seal_key)
        c.execute(f"SELECT fingerprint FROM {self.audit_key_sql} WHERE id = 1")
        row = c.fetchone()
        if row is not None:
            if row[0] != fingerprint:
                raise AuditKeyMismatch(_refusal(str(row[0]), fingerprint))
            return
        c.execute(f"SELECT s.position, s.mac, h.hash FROM {self.seals_sql} s "
                  f"JOIN {self.chain_sql} h ON h.position = s.position "
                  "ORDER BY s.position DESC LIMIT 1")
        last = c.fetchone()
        if last is not None and not seal_ok(self.seal_key, int(last[0]), bytes(last[2]),
                                            bytes(last[1])):
            raise AuditKeyMismatch(_refusal(None, fingerprint))
        c.execute(f"INSERT INTO {self.audit_key_sql} (id, fingerprint, recorded_at) "
                  f"VALUES (1, {self.ph}, {self.ph})", (fingerprint, now_text()))

    def recorded_fingerprint(self) -> str | None:
        """The fingerprint of the key this store's seals are made with (``None``: not
        recorded, e.g. a store sealed before fingerprints were)."""
        with self.read_rows() as c:
            c.execute(f"SELECT fingerprint FROM {self.audit_key_sql} WHERE id = 1")
            row = c.fetchone()
        return None if row is None else str(row[0])

    def _insert_chain(self, c: Any, chain: list[tuple[int, bytes]],
                      seals: list[tuple[int, bytes]], now: str) -> None:
        p = self.ph
        c.executemany(f"INSERT INTO {self.chain_sql} (position, hash) VALUES ({p},{p})", chain)
        c.executemany(
            f"INSERT INTO {self.seals_sql} (position, mac, sealed_at) VALUES ({p},{p},{p})",
            [(position, mac, now) for position, mac in seals],
        )

    def touchpoint_hashes(self, touchpoint_ids: Sequence[str]) -> dict[str, bytes]:
        """Content hashes of the given touchpoint ids that were accepted before."""
        found: dict[str, bytes] = {}
        with self.read_rows() as c:
            for chunk in chunks(touchpoint_ids):
                c.execute(
                    f"SELECT touchpoint_id, content_hash FROM {self.touchpoints_sql} "
                    f"WHERE touchpoint_id IN ({','.join([self.ph] * len(chunk))})",
                    chunk,
                )
                found.update((tid, bytes(digest)) for tid, digest in c.fetchall())
        return found

    def aggregate_log(self, aggregate_id: UUID) -> list[LogEntry]:
        """The rows of one aggregate, in version order, each with its log position."""
        with self.read_rows() as c:
            c.execute(f"SELECT {self.position_sql}, originator_id, originator_version, topic, "
                      f"state FROM {self.events_sql} WHERE originator_id = {self.ph} "
                      "ORDER BY originator_version", (self._id_param(aggregate_id),))
            return [LogEntry(*row) for row in c.fetchall()]

    def histories(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
        """The stored events of many aggregates, each in version order, in few queries."""
        found: dict[UUID, list[StoredEvent]] = {}
        with self.read_rows() as c:
            for chunk in chunks(aggregate_ids):
                asked = {self._id_param(i): i for i in chunk}  # the caller's UUIDs, not parsed
                c.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_sql} WHERE originator_id IN "
                    f"({','.join([self.ph] * len(chunk))}) "
                    "ORDER BY originator_id, originator_version",
                    list(asked),
                )
                for oid, version, topic, state in c.fetchall():
                    key = asked.get(oid) or (oid if isinstance(oid, UUID) else UUID(oid))
                    found.setdefault(key, []).append(StoredEvent(key, version, topic, bytes(state)))
        return found

    def upgrade_journey_tables(self, c: Any) -> None:
        """Add the columns a store written by an older engine lacks (``ADDED_COLUMNS``);
        called where the tables are created, in a write transaction."""
        for table, column, sql_type in ADDED_COLUMNS:
            if column not in self.columns(c, table):
                c.execute(f"ALTER TABLE {self.qualified(table)} ADD COLUMN {column} {sql_type}")

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


def _refusal(recorded: str | None, configured: str) -> str:
    if configured == DEFAULT_FINGERPRINT:
        mine = f"JOURNEY_AUDIT_SECRET is not set (the public default key {configured})"
    else:
        mine = f"JOURNEY_AUDIT_SECRET has the key {configured}"
    if recorded is None:
        theirs = "its last seal was made with another key (before fingerprints were recorded)"
    elif recorded == DEFAULT_FINGERPRINT:
        theirs = f"this store is sealed with the public default key {recorded}"
    else:
        theirs = f"this store is sealed with the key {recorded}"
    return (f"refusing to write: {theirs} but {mine}; a store is sealed with one key, so "
            "configure the secret it was first written with")
