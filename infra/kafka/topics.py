"""The engine's topic names: one per kind of touchpoint, the input and its dead letters.

Consumers and tools learn the names here without importing the relay (or kafka-python).

The input topic ``<prefix>.touchpoints`` has **one** partition: touchpoints are decided in
arrival order (contract 2), and Kafka keeps an order only within a partition. Its dead letters
keep that order too (one partition), so they read in the order the rejects were decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from journey.domain.errors import UsageError

#: The kinds of touchpoint, one published topic each (``<prefix>.<kind>``).
KINDS: Final = ("purchase", "invoice", "complaint", "repair", "part")
#: Partitions of the input topic and of its dead letters: one, so arrival order is one order.
INPUT_PARTITIONS: Final = 1


@dataclass(frozen=True)
class Topics:
    """The engine's topic names: ``<prefix>.<kind>``, input and dead letters."""

    prefix: str = "journey"
    partitions: int = 6  # of each published topic; the input has INPUT_PARTITIONS

    def __post_init__(self) -> None:
        if isinstance(self.partitions, bool) or not isinstance(self.partitions, int) \
                or self.partitions < 1:
            raise UsageError("partitions of the published topics: must be a whole number of "
                             f"at least 1 (got {self.partitions!r})")

    def of(self, kind: str) -> str:
        return f"{self.prefix}.{kind}"

    @property
    def published(self) -> dict[str, int]:
        """Every topic the relay writes, with its partition count."""
        return {self.of(kind): self.partitions for kind in KINDS}

    @property
    def touchpoints(self) -> str:
        return f"{self.prefix}.touchpoints"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.touchpoints.dlq"

    @property
    def inbound(self) -> dict[str, int]:
        """The input topic and its dead letters, with the partition count they are created
        with (``INPUT_PARTITIONS``; an existing topic keeps its own count)."""
        return {self.touchpoints: INPUT_PARTITIONS, self.dlq: INPUT_PARTITIONS}
