"""Which events an answer from the log counts: those that occurred by ``as_of`` (business
time) and that the engine had stored by ``known_at`` (record time), both optional.

Apart from ``history`` (the replays, which import the folds and the domain) because every
query command builds one from its options, and most are given neither bound.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from journey.projections.moments import iso_z


class TimeFilter:
    """Which events count: occurred by ``as_of`` and recorded by ``known_at`` (both optional)."""

    def __init__(self, as_of: datetime | None = None, known_at: datetime | None = None) -> None:
        self.as_of, self.known_at = as_of, known_at

    def keeps(self, event: Any) -> bool:
        if self.known_at is not None and _moment(event.timestamp) > self.known_at:
            return False
        occurred = getattr(event, "occurred_at", None)
        return self.as_of is None or occurred is None or occurred <= self.as_of

    def as_json(self) -> dict[str, str | None]:
        return {"as_of": None if self.as_of is None else iso_z(self.as_of),
                "known_at": None if self.known_at is None else iso_z(self.known_at)}


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value["_data_"])
