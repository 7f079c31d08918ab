"""The stock-level fold (contract 2.3 and 4) and the planning figures of the stock view.

State per (part_id, location) is folded by the domain's own ``PartStock`` events, so
the stock rules live in one place (``domain.stock``). Planning looks back over the
daily issued quantities: with ``d`` the daily issues of the trailing window (days
without issues count as 0), ``mean`` and ``sigma`` their mean and population standard
deviation, ``L`` the lead time in days and ``z`` the standard-normal quantile of the
service level:

    reorder_point  = mean * L + z * sigma * sqrt(L)
    sigma**2       = (W * sum(d**2) - sum(d)**2) / W**2          (W: the window's days)
    days_of_supply = available / mean            (None when nothing was issued)
    needs_reorder  = available <= reorder_point and (reorder_point > 0 or backordered > 0)
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from statistics import NormalDist
from typing import Any

from journey.domain.stock import PartStock

Pair = tuple[str, str]

#: The planning window the stock view keeps sums for (``view_stock.window_qty`` and
#: ``window_squares``: issued quantity and squared daily issues over its last days).
STORED_WINDOW_DAYS = 90


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


@dataclass(frozen=True)
class Planning:
    """Demand-based planning settings: lead time in days, service level, window in days."""

    lead_time_days: float = 7.0
    service_level: float = 0.95
    window_days: int = STORED_WINDOW_DAYS

    @cached_property
    def z(self) -> float:
        return NormalDist().inv_cdf(self.service_level)

    def figures(self, daily_issues: Iterable[int], available: int, backordered: int
                ) -> dict[str, Any]:
        """Planning figures from the issued quantity of each day with issues in the window."""
        issues = list(daily_issues)
        total = sum(issues)
        days_of_supply, reorder_point, needs_reorder = self.from_sums(
            total, sum(q * q for q in issues), available, backordered)
        return {self.issued_key: total, "days_of_supply": days_of_supply,
                "reorder_point": reorder_point, "needs_reorder": needs_reorder}

    def from_sums(self, total: int, sum_squares: int, available: int, backordered: int
                  ) -> tuple[float | None, float, bool]:
        """(days of supply, reorder point, needs reorder) from the window's issued total
        and its sum of squared daily issues.

        The population variance over the window's W days (days without issues count as 0)
        is (W * sum_squares - total**2) / W**2: an exact integer numerator, so sigma is
        rounded once, in the square root.
        """
        if total == 0:  # nothing issued: no demand to cover (most pairs, most days)
            return None, 0.0, available <= 0 and backordered > 0
        window, lead_time = self.window_days, self.lead_time_days
        mean = total / window
        reorder_point = mean * lead_time + self.z * math.sqrt(
            (window * sum_squares - total * total) * lead_time) / window
        return (round(available / mean, 1), round(reorder_point, 2),
                available <= reorder_point and (reorder_point > 0 or backordered > 0))

    @cached_property
    def issued_key(self) -> str:
        return f"issued_{self.window_days}d"

    def window_start(self, as_of: date) -> date:
        return as_of - timedelta(days=self.window_days - 1)
