"""The engine's topic names: one per kind of touchpoint, the input and its dead letters.

Consumers and tools learn the names here without importing the relay (or kafka-python).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: The kinds of touchpoint, one published topic each (``<prefix>.<kind>``).
KINDS: Final = ("purchase", "invoice", "complaint", "repair", "part")


@dataclass(frozen=True)
class Topics:
    """The engine's topic names: ``<prefix>.<kind>``, input and dead letters."""

    prefix: str = "journey"
    partitions: int = 6

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
