"""The event store: eventsourcing on SQLite or PostgreSQL, plus the engine's own tables.

Besides the library's ``stored_events`` the recorders keep these tables, written in the
same transaction as the events of a batch:

``journey_touchpoints``  one row per accepted touchpoint (idempotency key, content hash)
``journey_rejects``      one row per rejected line, in decision order, with the raw bytes
                         (``rejects``: which are open, contract 4.9)
``journey_ingest_runs``  one row per file ingest: how far it got (resuming)
``journey_chain``        one row per event: the audit hash chain (``chain``)
``journey_seals``        HMAC seals of the chain: each batch's last position, every SEAL_EVERY
``journey_audit_key``    one row: the fingerprint of the key the seals are made with
``journey_offsets``      per Kafka consumer, topic and partition: the next offset to read (and
                         the highest notification id applied), written in the consumer's
                         own transaction so a restart neither loses nor repeats a message
``journey_relay``        the relay's position in the log: the last event the broker acknowledged

A batch is appended with the log position its decisions were based on; if another writer
appended in between, the transaction fails with ``PositionConflict`` and the batch is
decided again on fresh state. That makes concurrent writers serializable without holding
a lock while deciding.

Modules: ``rows`` (what is read and written), ``recorder`` (the SQL both dialects share),
``rejects`` (the rejects read page by page, open or all),
``chain`` (the hash chain's encoding, links and seals, extended with every batch),
``events`` (the event store's put: a batch of domain events to rows in one pass),
``transcoder`` (the stored events' JSON, the library's bytes written by orjson),
``bookkeeping`` (checkpoints, offsets, positions, leases), ``sqlite`` and ``postgres`` (the
dialects), ``urls`` (store URLs both ways, the schema name validated), ``identifiers`` (table
and schema names quoted in SQL), ``application`` (opening a store).

The PostgreSQL names load on first use: a SQLite store never imports psycopg.
"""

from typing import TYPE_CHECKING, Any

from journey.infra.store.application import (
    JourneyApplication,
    log_wake_ups,
    open_store,
)
from journey.infra.store.errors import (
    AuditChainError,
    AuditKeyMismatch,
    LeaseHeld,
    PositionConflict,
    StoreError,
)
from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.rows import (
    AcceptedRow,
    BatchRecords,
    LogEntry,
    OffsetRow,
    RejectRow,
    RunCheckpoint,
)
from journey.infra.store.sqlite import ImmediateTransaction, JourneySQLiteRecorder
from journey.infra.store.urls import redact, store_env, store_url

if TYPE_CHECKING:
    from journey.infra.store.postgres import JourneyPostgresRecorder, TupleCursor

__all__ = [
    "AcceptedRow",
    "AuditChainError",
    "AuditKeyMismatch",
    "BatchRecords",
    "ImmediateTransaction",
    "JourneyApplication",
    "JourneyPostgresRecorder",
    "JourneyRecorderMixin",
    "JourneySQLiteRecorder",
    "LeaseHeld",
    "LogEntry",
    "OffsetRow",
    "PositionConflict",
    "RejectRow",
    "RunCheckpoint",
    "StoreError",
    "TupleCursor",
    "log_wake_ups",
    "open_store",
    "redact",
    "store_env",
    "store_url",
]


def __getattr__(name: str) -> Any:
    """``JourneyPostgresRecorder`` and ``TupleCursor``, imported (with psycopg) when asked."""
    if name in ("JourneyPostgresRecorder", "TupleCursor"):
        from journey.infra.store import postgres

        return getattr(postgres, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
