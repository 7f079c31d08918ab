"""What to generate, and the labels `generate_with_labels` puts next to each line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from journey.domain.errors import REASONS
from journey.schemas.touchpoint import TOUCHPOINT_TYPES

VALID = "valid"
DUPLICATE = "duplicate"
#: Every reason a labelled bad line may carry: the contract's, in precedence order.
REJECT_REASONS = REASONS
#: The 24 touchpoint types of contract 1.2.
TYPES = tuple(TOUCHPOINT_TYPES)


@dataclass(frozen=True)
class WorkloadOptions:
    """What to generate; the same options always give the same bytes.

    Customers arrive evenly over `days` from `start`, and `days` after `start` is the horizon:
    nothing happens after it, so journeys still running then are cut there (open and overdue
    invoices, unresolved cases, unfinished repairs), as in an extract taken that day; lines
    held back (late) until after it arrive at the end. `error_rate` scales
    every service-error branch, so more errors also bring more failure demand (complaints,
    repeat visits) and thus more lines per customer.
    """

    customers: int
    seed: int = 42
    error_rate: float = 0.05
    bad_rate: float = 0.01
    late_rate: float = 0.02
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    days: int = 365

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError("customers must be >= 0")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        for name in ("error_rate", "bad_rate", "late_rate"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5)")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
