"""What can go wrong with the event store."""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError

from journey.domain.errors import JourneyError


class StoreError(JourneyError):
    """The event store cannot be reached or used."""


class PositionConflict(IntegrityError, StoreError):
    """Another writer appended to the log after this batch was decided."""


class LeaseHeld(StoreError):
    """Another process holds the lease (e.g. another relay is publishing)."""


class AuditChainError(StoreError):
    """The audit chain cannot be extended: it is ahead of the log (rows were deleted)."""

