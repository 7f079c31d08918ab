"""Errors of the journey engine.

Every exception the engine raises on purpose derives from ``JourneyError``; foreign
exceptions (database drivers, Kafka, OS) are converted at the boundary with
``raise ... from exc``. The tree (``tests/unit/test_errors.py`` checks it against the
classes):

    JourneyError
    ├── TouchpointRejected      a touchpoint breaks an acceptance rule (reason = contract code)
    ├── StoreError              (infra.store) the event store cannot be reached or used
    │   ├── PositionConflict    another writer appended since this batch was decided
    │   ├── LeaseHeld           another process holds a lease (e.g. the relay's)
    │   ├── AuditChainError     the audit chain does not continue the log
    │   ├── AuditKeyMismatch    the configured audit secret is not the one the store is sealed with
    │   ├── StoreMissing        no store at the URL (readers never create one), or no such database
    │   └── LoginRefused        PostgreSQL refused the login (no such role, wrong password)
    ├── IngestError             (infra.ingest) the input cannot be read
    ├── RunInProgress           (infra.ingest) another live process is ingesting the same file
    ├── BodyRefused             (infra.http.bodies) an intake body as a whole: 413, 415, 400
    ├── KeyReused               (infra.http.intake) an Idempotency-Key already had another body
    ├── ViewFailed              (infra.views.projector) the views cannot take an event of the log
    ├── Interrupted             (infra.cli.interrupts) Ctrl-C: what was kept, how to resume
    ├── UsageError              a command-line option has a bad value (the CLI exits 2)
    │   └── BoundError          (infra.bounds) a time bound is no month, day or instant
    ├── ExportError             (infra.audit.files) an export cannot be written or read
    ├── KafkaUnavailable        (infra.kafka.client) no broker answers, or it refused
    ├── TopicMismatch           (infra.kafka.client) a topic has another partition count
    ├── TopicMissing            (infra.kafka.client) a reader's topic is not on the broker
    ├── BrokerError             (infra.kafka.broker) the bundled broker would not start
    ├── BrokerDataLost          (infra.kafka.losses) the broker lost messages it had acknowledged
    ├── EventEncodeError        (infra.kafka.codec) a stored event does not fit its schema
    └── EventDecodeError        (infra.kafka.codec) a message is not one of our Avro events

``schemas/`` imports nothing of ours, so ``journey.schemas.avro_codec`` raises its own
``AvroCodecError`` (a ``ValueError``); ``journey.infra.kafka.codec`` turns it into
``EventEncodeError`` or ``EventDecodeError``. ``PositionConflict`` is also the
eventsourcing library's ``IntegrityError``, which is what a writer retries on.

A reject reason is data (a contract code such as ``unknown_entity``), never an exception
class name.
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


class UsageError(JourneyError):
    """A command-line option (or a value given for a setting) that is not of the expected
    form; its message is one line ``<option>: <what is wrong> (got <value>)``."""


class TouchpointRejected(JourneyError):
    """A touchpoint breaks an acceptance rule; ``reason`` is the contract code."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
