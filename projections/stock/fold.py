"""The stock-level fold (contract 2.3 and 4): state per (part_id, location).

The state is folded by the domain's own ``PartStock`` events, so the stock rules live in
one place (``journey.domain.stock``). The fold does no I/O: ``load`` fetches a pair's
current state (the stock table in a catch-up, a dict in a rebuild).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from journey.domain.stock import PartStock

Pair = tuple[str, str]


def blank_stock(part_id: str, location: str) -> PartStock:
    """A stock record with nothing on it, outside any event stream (a fold's state)."""
    stock = PartStock.__new__(PartStock)
    PartStock.__init__(stock, part_id, location)
    return stock


@dataclass
class StockChanges:
    stocks: dict[Pair, PartStock] = field(default_factory=dict)
    issues: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # part, loc, day
    latest_day: str | None = None

    def writes(self) -> StockWrites:
        return StockWrites(
            stocks=[(s.part_id, s.location, s.on_hand, s.reserved, s.backordered,
                     json.dumps(s.reservations), json.dumps(s.backorders))
                    for s in self.stocks.values()],
            issues=[(*key, qty) for key, qty in self.issues.items()],
            latest_day=self.latest_day)


@dataclass(slots=True)
class StockWrites:
    """A batch's changes as plain rows for the stock tables (and cheap to pickle)."""

    #: part_id, location, on_hand, reserved, backordered, reservations, backorders (JSON)
    stocks: list[tuple[str, str, int, int, int, str, str]]
    issues: list[tuple[str, str, str, int]]  # part_id, location, day, +qty
    latest_day: str | None  # the latest movement day seen, if any


class StockFold:
    """Folds ``PartStock`` events in log order; ``load`` fetches a pair's current state."""

    def __init__(self, load: Callable[[Pair], PartStock | None]) -> None:
        self.load = load
        self.changes = StockChanges()

    def stock(self, pair: Pair) -> PartStock:
        found = self.changes.stocks.get(pair) or self.load(pair) or blank_stock(*pair)
        self.changes.stocks[pair] = found
        return found

    def apply(self, event: Any) -> None:
        # A pair's row starts with its first movement (its registration rides along with it).
        if not isinstance(event, PartStock.Movement):
            return
        event.apply(self.stock((event.part_id, event.location)))
        day = event.occurred_at.date().isoformat()
        if self.changes.latest_day is None or day > self.changes.latest_day:
            self.changes.latest_day = day
        if isinstance(event, PartStock.Issued):
            self.changes.issues[(event.part_id, event.location, day)] += event.qty
