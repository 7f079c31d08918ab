"""Orders: placed, then delivered, failed, cancelled or returned (contract 2.2).

Quantities stay small without a check of their own: a line's ``qty`` is at most 10^8
(``schemas.fields.MAX_QTY``) and an order has at most 500 lines, so the quantity ordered of
one sku is at most 5 x 10^10, and the quantity returned never exceeds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from journey.domain.base import Entity, TouchpointEvent
from journey.domain.errors import TouchpointRejected

if TYPE_CHECKING:
    from journey.schemas.touchpoint import (
        PurchaseCancelled,
        PurchaseDelivered,
        PurchaseDeliveryFailed,
        PurchasePlaced,
        PurchaseReturned,
    )


class Order(Entity):
    KIND = "order"

    class Placed(TouchpointEvent, Entity.Created):
        order_id: str
        lines: list[dict[str, Any]]
        currency: str

    class Delivered(TouchpointEvent):
        order_id: str

        def apply(self, order: Order) -> None:
            order.status = "delivered"

    class DeliveryFailed(TouchpointEvent):
        order_id: str
        reason: str

        def apply(self, order: Order) -> None:
            order.status = "delivery_failed"

    class Returned(TouchpointEvent):
        order_id: str
        lines: list[dict[str, Any]]
        reason: str

        def apply(self, order: Order) -> None:
            for line in self.lines:
                order.returned[line["sku"]] = order.returned.get(line["sku"], 0) + line["qty"]

    class Cancelled(TouchpointEvent):
        order_id: str
        reason: str

        def apply(self, order: Order) -> None:
            order.status = "cancelled"

    def __init__(self, order_id: str, customer_id: str, lines: list[dict[str, Any]]) -> None:
        self.key = order_id
        self.customer_id = customer_id
        self.status = "placed"
        self.ordered: dict[str, int] = _quantities(lines)
        self.returned: dict[str, int] = {}

    @classmethod
    def place(cls, tp: PurchasePlaced) -> Order:
        lines = [
            {"sku": line.sku, "qty": line.qty, "unit_price": line.unit_price} for line in tp.lines
        ]
        return cls.create(cls.Placed, cls.id_for(tp.order_id), tp, order_id=tp.order_id,
                          lines=lines, currency=tp.currency)

    def check_open_for_delivery(self, tp_type: str) -> None:
        if self.status not in ("placed", "delivery_failed"):
            raise self.transition_refused(tp_type, self.status)

    def deliver(self, tp: PurchaseDelivered) -> None:
        self.check_open_for_delivery(tp.type)
        self.trigger(self.Delivered, tp, order_id=self.key)

    def fail_delivery(self, tp: PurchaseDeliveryFailed) -> None:
        self.check_open_for_delivery(tp.type)
        self.trigger(self.DeliveryFailed, tp, order_id=self.key, reason=tp.reason)

    def cancel(self, tp: PurchaseCancelled) -> None:
        self.check_open_for_delivery(tp.type)
        self.trigger(self.Cancelled, tp, order_id=self.key, reason=tp.reason)

    def take_back(self, tp: PurchaseReturned) -> None:
        if self.status != "delivered":
            raise self.transition_refused(tp.type, self.status)
        lines = [{"sku": line.sku, "qty": line.qty} for line in tp.lines]
        for sku, qty in _quantities(lines).items():
            ordered = self.ordered.get(sku, 0)
            if self.returned.get(sku, 0) + qty > ordered:
                raise TouchpointRejected(
                    "invalid_quantity",
                    f"{self.ref}: returning {qty} of sku {sku!r} exceeds the "
                    f"{ordered - self.returned.get(sku, 0)} ordered and not yet returned",
                )
        self.trigger(self.Returned, tp, order_id=self.key, lines=lines, reason=tp.reason)


def _quantities(lines: list[dict[str, Any]]) -> dict[str, int]:
    quantities: dict[str, int] = {}
    for line in lines:
        quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["qty"]
    return quantities
