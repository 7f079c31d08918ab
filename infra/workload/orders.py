"""Orders: placed, delivered (or not), cancelled, returned."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from journey.infra.workload.catalogue import (
    CANCEL_REASONS,
    DAY,
    DELIVERY_FAILURES,
    HOUR,
    LINES_PER_ORDER,
    QTY,
    RETURN_REASONS,
    SALES_CHANNEL,
)
from journey.infra.workload.entities import Customer, Order, SimEntity
from journey.infra.workload.simulation import Simulation


class OrderSteps(Simulation):
    """The order lifecycle; a delivered order is invoiced, a failed one may bring a complaint."""

    skus: list[tuple[str, int]]  # (sku, unit price in cents)

    # Other lifecycles' steps, for the type checker only: `Journeys` mixes in the real
    # ones, and a stub defined here at run time would shadow them.
    if TYPE_CHECKING:

        def _complain_about(self, t: int, subject: SimEntity) -> None: ...

        def _issue_order_invoice(self, t: int, order: Order) -> None: ...

    def _build_skus(self) -> None:
        """The shop's catalogue: 400 SKUs with their prices."""
        self.skus = [(f"SKU-{10000 + i}", self._price()) for i in range(400)]

    def _price(self) -> int:
        rng = self.rng
        if rng.random() < 0.02:
            return 0  # free accessory
        cents = int(math.exp(rng.uniform(math.log(400), math.log(150000))))
        return cents - cents % 100 + 99

    def _place_order(self, t: int, customer: Customer) -> None:
        rng = self.rng
        picks = rng.sample(self.skus, LINES_PER_ORDER.draw(rng))
        lines = [(sku, QTY.draw(rng), cents) for sku, cents in picks]
        if not any(cents for _, _, cents in lines):
            lines[0] = (lines[0][0], lines[0][1], 999)
        order = Order(self._next_id("ORD"), customer, lines)
        customer.orders.append(order)
        self.pool.append(order)
        channel = SALES_CHANNEL.draw(rng)
        source = {"web": "webshop", "store": "pos", "phone": "sales-desk"}[channel]
        self._send(
            t,
            "purchase.placed",
            customer,
            channel,
            source,
            {
                "order_id": order.id,
                "lines": [{"sku": s, "qty": q, "unit_price": self._money(c)} for s, q, c in lines],
                "currency": customer.currency,
            },
        )
        if rng.random() < 0.03:
            self._at(t + self._between(2 * HOUR, 2 * DAY), self._cancel_order, order)
        else:
            self._at(t + self._between(DAY, 4 * DAY), self._deliver_order, order)

    def _deliver_order(self, t: int, order: Order) -> None:
        if self._blocked(t, order, self._deliver_order) or order.state == "cancelled":
            return
        rng = self.rng
        carrier = rng.choice(("carrier-dhl", "carrier-ups", "carrier-dpd"))
        if order.attempts < 3 and rng.random() < 2 * self.e:
            order.attempts += 1
            order.state = "failed"
            self._send(
                t,
                "purchase.delivery_failed",
                order.customer,
                "system",
                carrier,
                {"order_id": order.id, "reason": rng.choice(DELIVERY_FAILURES)},
                order,
                error=True,
            )
            if rng.random() < 0.5:
                self._at(t + self._between(2 * HOUR, 2 * DAY), self._complain_about, order)
            follow = (
                self._cancel_order
                if order.attempts >= 2 and rng.random() < 0.5
                else self._deliver_order
            )
            self._at(t + self._between(DAY, 3 * DAY), follow, order)
            return
        order.state = "delivered"
        self._send(
            t,
            "purchase.delivered",
            order.customer,
            "system",
            carrier,
            {"order_id": order.id},
            order,
        )
        self._at(t + self._between(HOUR, DAY), self._issue_order_invoice, order)
        if rng.random() < 0.12:
            self._at(t + self._between(3 * DAY, 20 * DAY), self._return_order, order)

    def _cancel_order(self, t: int, order: Order) -> None:
        if self._blocked(t, order, self._cancel_order) or order.state not in ("placed", "failed"):
            return
        order.state = "cancelled"
        reason = "undeliverable" if order.attempts else self.rng.choice(CANCEL_REASONS)
        self._send(
            t,
            "purchase.cancelled",
            order.customer,
            "web",
            "webshop",
            {"order_id": order.id, "reason": reason},
            order,
        )

    def _return_order(self, t: int, order: Order) -> None:
        if self._blocked(t, order, self._return_order):
            return
        rng = self.rng
        open_lines = [(sku, qty - order.returned.get(sku, 0)) for sku, qty, _ in order.lines]
        open_lines = [(sku, left) for sku, left in open_lines if left > 0]
        if not open_lines:
            return
        picked = rng.sample(open_lines, 1 + int(rng.random() * len(open_lines) * 0.6))
        back = [(sku, 1 + int(rng.random() * left)) for sku, left in picked]
        for sku, qty in back:
            order.returned[sku] = order.returned.get(sku, 0) + qty
        self._send(
            t,
            "purchase.returned",
            order.customer,
            rng.choice(("web", "store")),
            "returns-portal",
            {
                "order_id": order.id,
                "lines": [{"sku": s, "qty": q} for s, q in back],
                "reason": rng.choice(RETURN_REASONS),
            },
            order,
        )
        if rng.random() < 0.25:
            self._at(t + self._between(2 * DAY, 10 * DAY), self._return_order, order)
