"""Errors of the journey engine.

Every exception the engine raises on purpose derives from ``JourneyError``;
foreign exceptions (database drivers, Kafka, OS) are converted at the
boundary with ``raise ... from exc``.

    JourneyError
    ├── TouchpointRejected      a touchpoint breaks an acceptance rule (reason = contract code)
    ├── StoreError              (infra.store) the event store cannot be reached or used
    │   ├── PositionConflict    another writer appended since this batch was decided
    │   ├── LeaseHeld           another process holds a lease (e.g. the relay's)
    │   └── AuditChainError     the audit chain does not continue the log
    ├── IngestError             (infra.ingest) the input cannot be read
    ├── KafkaUnavailable        (infra.kafka) no broker answers, or it refused the request
    ├── TopicMismatch           (infra.kafka) a topic exists with another partition count
    ├── BrokerError             (infra.broker) the bundled broker would not start
    ├── EventEncodeError        (infra.avro_events) a stored event does not fit its schema
    └── EventDecodeError        (infra.avro_events) a message is not one of our Avro events

A reject reason is data (a contract code such as ``unknown_entity``), never
an exception class name.
"""

from __future__ import annotations

from typing import Final

#: Rejection reasons of contract 2.1, in precedence order.
REASONS: Final = (
    "invalid_json",
    "unknown_type",
    "invalid",
    "conflicting_duplicate",
    "already_exists",
    "unknown_entity",
    "customer_mismatch",
    "invalid_transition",
    "invalid_quantity",
    "insufficient_stock",
)


class JourneyError(Exception):
    """Root of the engine's own errors."""


class TouchpointRejected(JourneyError):
    """A touchpoint breaks an acceptance rule; ``reason`` is the contract code."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
