"""Planning figures of the stock view: how much is issued, when to reorder.

Planning looks back over the daily issued quantities: with ``d`` the daily issues of the
trailing window (days without issues count as 0), ``mean`` and ``sigma`` their mean and
population standard deviation, ``L`` the lead time in days and ``z`` the standard-normal
quantile of the service level:

    reorder_point  = mean * L + z * sigma * sqrt(L)
    sigma**2       = (W * sum(d**2) - sum(d)**2) / W**2          (W: the window's days)
    days_of_supply = available / mean            (None when nothing was issued)
    needs_reorder  = available <= reorder_point and (reorder_point > 0 or backordered > 0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from statistics import NormalDist
from typing import Any

#: The planning window the stock view keeps sums for (``view_stock.window_qty`` and
#: ``window_squares``: issued quantity and squared daily issues over its last days).
STORED_WINDOW_DAYS = 90


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
