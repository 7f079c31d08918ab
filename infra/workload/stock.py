"""Parts stock: opening balances, receipts, replenishment, transfers between locations,
and the background processes (cycle counts, rebalancing, loose returns).
"""

from __future__ import annotations

import math
from functools import partial

from journey.infra.workload.catalogue import (
    ADJUST_REASONS,
    DAY,
    HOUR,
    LOCATION_SHARE,
    LOCATIONS,
    WAREHOUSES,
)
from journey.infra.workload.entities import StockRecord
from journey.infra.workload.simulation import Simulation, Step


class StockSteps(Simulation):
    """Contract 2.3 stock per (part, location), kept exact in arrival order."""

    stock: list[list[StockRecord]]  # [part row][location]
    part_cum: list[float]  # cumulative popularity of the part rows

    def _build_stock(self) -> None:
        """The parts catalogue: Zipf-like popularity, a cost and a policy per location."""
        rng = self.rng
        customers = self.options.customers
        n_parts = min(300, max(20, customers // 10))
        weights = [1.0 / (rank + 1) ** 1.1 for rank in range(n_parts)]
        total = sum(weights)
        self.part_cum = []
        acc = 0.0
        for w in weights:
            acc += w / total
            self.part_cum.append(acc)
        self.part_cum[-1] = 1.0
        # expected part units asked per day and location, from the journey mix (repairs per
        # customer, parts per repair)
        units_per_day = 1.1 * customers / max(self.options.days, 30)
        self.stock = []
        for i in range(n_parts):
            cost = int(math.exp(rng.uniform(math.log(50), math.log(40000))))
            row = []
            for loc, share in enumerate(LOCATION_SHARE):
                demand = units_per_day * share * weights[i] / total
                policy = self._policy(loc, demand, common=i < 0.4 * n_parts)
                row.append(StockRecord(f"P-{1000 + i}", loc, cost, *policy))
            self.stock.append(row)

    @staticmethod
    def _policy(loc: int, demand: float, common: bool) -> tuple[int, int]:
        """Reorder point and order-up-to level for a daily demand."""
        if loc in WAREHOUSES:
            rop = math.ceil(demand * 5) + 1
            return rop, rop + math.ceil(demand * 25) + 1
        if not common and demand * 180 < 1:  # rarely asked for: vans do not carry it
            return 0, 0
        rop = math.ceil(demand * 3)
        return rop, rop + max(1, math.ceil(demand * 10))

    def _pick_part(self, location: int) -> StockRecord:
        return self.stock[self._part_index()][location]

    def _part_index(self) -> int:
        cum = self.part_cum
        r = self.rng.random()
        lo, hi = 0, len(cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] <= r:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @staticmethod
    def _add_stock(stock: StockRecord, qty: int) -> None:
        stock.on_hand += qty

    def _open_stock(self) -> None:
        """Opening balances, booked in the first hours."""
        t = 0
        for row in self.stock:
            for stock in row:
                if stock.up_to > 0 and (stock.location == 0 or stock.reorder_point > 0):
                    t += self._between(1, 30)
                    self._at(t, self._opening_receipt, stock)

    def _opening_receipt(self, t: int, stock: StockRecord) -> None:
        self._receive(t, stock, stock.up_to, late=False)

    def _receive(self, t: int, stock: StockRecord, qty: int, late: bool) -> None:
        fields = stock.movement(qty)
        if self.rng.random() < 0.8:
            fields["unit_cost"] = self._money(stock.unit_cost)
        self._send(
            t,
            "part.received",
            None,
            "system",
            "wms",
            fields,
            stock if late else None,
            arrive=partial(self._add_stock, stock, qty),
        )

    def _replenish_lead(self, stock: StockRecord) -> int:
        if stock.location in WAREHOUSES:
            return self._between(2 * DAY, 6 * DAY)
        return self._between(6 * HOUR, 30 * HOUR)

    def _check_reorder(self, t: int, stock: StockRecord, force: bool = False,
                       lead: int = 0) -> None:
        if stock.pending or not (force or stock.available < stock.reorder_point):
            return
        stock.pending = True
        self._at(t + (lead or self._replenish_lead(stock)), self._replenish, stock)

    def _replenish(self, t: int, stock: StockRecord) -> None:
        stock.pending = False
        need = stock.up_to - stock.available + stock.backordered
        if need <= 0:
            return
        if stock.location in WAREHOUSES:
            self._receive(t, stock, need + (-need) % 5, late=True)
            return
        row = self.stock[self._part_row(stock)]
        source = max((row[w] for w in WAREHOUSES), key=lambda s: s.available)
        qty = min(need, source.available)
        if qty < 1:
            self._receive(t, stock, need, late=True)  # shipped straight to the van
            return
        self._transfer(t, source, stock, qty)

    def _part_row(self, stock: StockRecord) -> int:
        return int(stock.part[2:]) - 1000

    def _transfer(self, t: int, source: StockRecord, target: StockRecord, qty: int) -> None:
        source.on_hand -= qty
        target.on_hand += qty
        self._send(
            t,
            "part.transferred",
            None,
            "system",
            "wms",
            {
                "part_id": source.part,
                "location": LOCATIONS[source.location],
                "to_location": LOCATIONS[target.location],
                "qty": qty,
            },
        )
        self._check_reorder(t, source)

    def _process_gap(self, per_customer: float) -> int:
        rate = per_customer * self.options.customers / self.span
        return 1 + int(self.rng.expovariate(rate))

    def _again(self, t: int, step: Step, per_customer: float) -> None:
        at = t + self._process_gap(per_customer)
        if at < self.span:
            self._at(at, step, per_customer)

    def _cycle_count(self, t: int, per_customer: float) -> None:
        """A stock count finds a difference: a signed adjustment that never goes below zero."""
        rng = self.rng
        stock = self.stock[self._part_index()][int(rng.random() * len(LOCATIONS))]
        if stock.on_hand > 0 and rng.random() < 0.55:
            qty = -min(stock.on_hand, rng.choice((1, 1, 2)))
        else:
            qty = rng.choice((1, 1, 2, 3))
        stock.on_hand += qty
        reason = rng.choice(ADJUST_REASONS[:2] if qty < 0 else ADJUST_REASONS)
        self._send(t, "part.adjusted", None, "system", "wms", stock.movement(qty, reason=reason))
        self._again(t, self._cycle_count, per_customer)

    def _rebalance(self, t: int, per_customer: float) -> None:
        row = self.stock[self._part_index()]
        source, target = (row[0], row[1]) if self.rng.random() < 0.6 else (row[1], row[0])
        if source.available >= 4:
            self._transfer(t, source, target, self._between(1, source.available // 2 + 1))
        self._again(t, self._rebalance, per_customer)

    def _loose_return(self, t: int, per_customer: float) -> None:
        """Unused parts handed back from a van or a counter, not tied to a repair."""
        stock = self._pick_part(int(self.rng.random() * len(LOCATIONS)))
        qty = self.rng.choice((1, 1, 2))
        self._send(
            t,
            "part.returned",
            None,
            "field",
            "wms",
            stock.movement(qty),
            stock,
            arrive=partial(self._add_stock, stock, qty),
        )
        self._again(t, self._loose_return, per_customer)
