"""The rows the store reads and writes besides the library's events."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification

CHUNK = 500  # ids per IN (...) query


#: An event as the recorders write it: (originator_id, originator_version, topic, state).
EventRow = tuple[UUID | str, int, str, bytes]
#: An event as the chain hashes it: (originator_id as text, originator_version, topic, state).
ChainInput = tuple[str, int, str, bytes]


@dataclass(frozen=True, slots=True)
class AcceptedRow:
    touchpoint_id: str
    content_hash: bytes
    type: str
    #: Where the line came from (``NAME:LINE``, ``kafka:TOPIC/PARTITION@OFFSET``; see
    #: ``journey.infra.ingest.lines``), ``None`` when the caller did not say.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class RejectRow:
    touchpoint_id: str | None
    reason: str
    detail: str
    raw: bytes
    seq: int = 0
    recorded_at: str = ""
    #: Where the line came from, as on ``AcceptedRow``.
    source: str | None = None
    #: Whether the reject is open (contract 4.9: not superseded by a later reject of its
    #: ``touchpoint_id``, and that id not accepted since), as read; ``None``: not read.
    open: bool | None = None
    #: Whether its ``touchpoint_id`` had been accepted when it was decided (then an
    #: acceptance cannot have come since: an id is accepted once).
    accepted_before: bool = False


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


def now_text() -> str:
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


def text_column(value: str | None) -> str | None:
    return value if value is None or "\x00" not in value else value.replace("\x00", "\ufffd")


def chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield list(items[i : i + CHUNK])

