"""The stock-level fold (contract 2.3 and 4) and the planning figures of the stock view.

State per (part_id, location) is folded by the domain's own ``PartStock`` events, so
the stock rules live in one place (``domain.stock``). Planning looks back over the
daily issued quantities: with ``d`` the daily issues of the trailing window (days
without issues count as 0), ``mean`` and ``sigma`` their mean and population standard
deviation, ``L`` the lead time in days and ``z`` the standard-normal quantile of the
service level:

    reorder_point  = mean * L + z * sigma * sqrt(L)
    days_of_supply = available / mean            (None when nothing was issued)
    needs_reorder  = available <= reorder_point and (reorder_point > 0 or backordered > 0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from statistics import NormalDist
from typing import Any

from domain.stock import PartStock

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


@dataclass(frozen=True)
class Planning:
    """Demand-based planning settings: lead time in days, service level, window in days."""

    lead_time_days: float = 7.0
    service_level: float = 0.95
    window_days: int = 90

    @cached_property
    def z(self) -> float:
        return NormalDist().inv_cdf(self.service_level)

    def figures(self, daily_issues: Iterable[int], available: int, backordered: int
                ) -> dict[str, Any]:
        """Planning figures from the issued quantity of each day with issues in the window."""
        issues = list(daily_issues)
        total = sum(issues)
        mean = total / self.window_days
        variance = (
            sum((q - mean) ** 2 for q in issues) + (self.window_days - len(issues)) * mean**2
        ) / self.window_days
        reorder_point = mean * self.lead_time_days + self.z * math.sqrt(
            variance * self.lead_time_days)
        return {
            f"issued_{self.window_days}d": total,
            "days_of_supply": round(available / mean, 1) if mean > 0 else None,
            "reorder_point": round(reorder_point, 2),
            "needs_reorder": available <= reorder_point and (reorder_point > 0 or backordered > 0),
        }

    def window_start(self, as_of: date) -> date:
        return as_of - timedelta(days=self.window_days - 1)
