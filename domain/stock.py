"""Repair-parts stock, one aggregate per (part_id, location): contract 2.3.

State: ``on_hand``, per-repair ``reservations`` and open ``backorders``.
``available = on_hand - reserved`` may go negative after a downward count.
A reservation beyond availability is accepted and recorded as a stock-out
(``Backordered``), refused only at the ceiling below.

Engine bounds (a deviation: the contract sets no maximum). Every figure the stock keeps, and
that the stock view stores in 64-bit columns, stays within ``MAX_STOCK`` (10^15): ``on_hand``,
``reserved``, ``backordered`` and each repair's share of them. A movement that would take one
beyond it is refused as ``invalid_quantity``. 10^15 is below 2^53, so every figure is exact even
where JSON is read as binary floating point, and ``available = on_hand - reserved`` (within
±10^15) fits any 64-bit column with room to spare. The quantity issued from one pair on one UTC
day stays within ``MAX_ISSUED_PER_DAY`` (10^8, the largest single ``qty``): the view sums the
squares of the daily issues over its 90-day planning window, and 90 x (10^8)^2 = 9 x 10^17
stays below 2^63 (about 9.2 x 10^18).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Final
from uuid import UUID

from eventsourcing.domain import Aggregate

from journey.domain.base import FastEvents, TouchpointEvent, entity_id
from journey.domain.errors import TouchpointRejected

#: The ceiling of every stock figure (on hand, reserved, backordered, per pair and per repair).
MAX_STOCK: Final = 10**15
#: The most one (part, location) may issue on one UTC day (see the module docstring).
MAX_ISSUED_PER_DAY: Final = 10**8

if TYPE_CHECKING:
    from journey.schemas.touchpoint import (
        PartAdjusted,
        PartIssued,
        PartReceived,
        PartReleased,
        PartReserved,
        PartReturned,
        PartTransferred,
    )


class PartStock(FastEvents, Aggregate):
    KIND = "part"

    class Registered(Aggregate.Created):
        """The first movement at this (part, location) opened its stock record."""

        part_id: str
        location: str

    class Movement(TouchpointEvent):
        part_id: str
        location: str
        qty: int

    class Received(Movement):
        unit_cost: Decimal | None

        def apply(self, stock: PartStock) -> None:
            stock.on_hand += self.qty

    class Reserved(Movement):
        repair_id: str

        def apply(self, stock: PartStock) -> None:
            stock.reservations[self.repair_id] = stock.reserved_for(self.repair_id) + self.qty
            stock.lower_backorder(self.repair_id, self.qty)

    class Backordered(Movement):
        """A reservation beyond availability: nothing reserved, a stock-out recorded."""

        repair_id: str

        def apply(self, stock: PartStock) -> None:
            stock.backorders[self.repair_id] = stock.backorders.get(self.repair_id, 0) + self.qty

    class Released(Movement):
        repair_id: str

        def apply(self, stock: PartStock) -> None:
            stock.lower_reservation(self.repair_id, self.qty)

    class Issued(Movement):
        repair_id: str

        def apply(self, stock: PartStock) -> None:
            stock.on_hand -= self.qty
            stock.lower_reservation(self.repair_id, self.qty)
            stock.lower_backorder(self.repair_id, self.qty)
            day = self.occurred_at.date()
            stock.issued_by_day[day] = stock.issued_by_day.get(day, 0) + self.qty

    class Returned(Movement):
        repair_id: str | None

        def apply(self, stock: PartStock) -> None:
            stock.on_hand += self.qty

    class Adjusted(Movement):
        reason: str

        def apply(self, stock: PartStock) -> None:
            stock.on_hand += self.qty

    class TransferredOut(Movement):
        to_location: str

        def apply(self, stock: PartStock) -> None:
            stock.on_hand -= self.qty

    class TransferredIn(Movement):
        from_location: str

        def apply(self, stock: PartStock) -> None:
            stock.on_hand += self.qty

    def __init__(self, part_id: str, location: str) -> None:
        self.part_id = part_id
        self.location = location
        self.on_hand = 0
        self.reservations: dict[str, int] = {}
        self.backorders: dict[str, int] = {}
        # Bookkeeping for MAX_ISSUED_PER_DAY, not part of the contract's state (private, so
        # that entity histories do not show it): issued quantity per UTC day with issues.
        self._issued_by_day: dict[date, int] = {}

    @staticmethod
    @lru_cache(maxsize=1 << 16)  # json.dumps costs more than the cached uuid5 behind it
    def id_for(part_id: str, location: str) -> UUID:
        return entity_id("stock", json.dumps([part_id, location]))

    @classmethod
    def register(cls, part_id: str, location: str) -> PartStock:
        return cls.create(cls.Registered, cls.id_for(part_id, location), None, part_id=part_id,
                          location=location)

    @property
    def ref(self) -> str:
        return f"part:{self.part_id}@{self.location}"

    @property
    def issued_by_day(self) -> dict[date, int]:
        """The quantity issued per UTC day of ``occurred_at`` (days with issues only)."""
        return self._issued_by_day

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def backordered(self) -> int:
        return sum(self.backorders.values())

    def reserved_for(self, repair_id: str) -> int:
        return self.reservations.get(repair_id, 0)

    def lower_reservation(self, repair_id: str, qty: int) -> None:
        left = self.reserved_for(repair_id) - min(qty, self.reserved_for(repair_id))
        if left:
            self.reservations[repair_id] = left
        else:
            self.reservations.pop(repair_id, None)

    def lower_backorder(self, repair_id: str, qty: int) -> None:
        open_qty = self.backorders.get(repair_id, 0)
        left = open_qty - min(qty, open_qty)
        if left:
            self.backorders[repair_id] = left
        else:
            self.backorders.pop(repair_id, None)

    # Checks: they raise before anything changes, so a refused movement leaves no trace.

    def check_ceiling(self, figure: int, qty: int, what: str,
                      ceiling: int = MAX_STOCK) -> None:
        """``invalid_quantity`` when adding ``qty`` would take ``figure`` beyond ``ceiling``."""
        if figure + qty > ceiling:
            raise TouchpointRejected(
                "invalid_quantity",
                f"{self.ref}: {qty} more would take {what} ({figure}) beyond the engine's "
                f"limit of {ceiling}",
            )

    def check_room(self, qty: int) -> None:
        """Room on hand for ``qty`` more (a receipt, a return, a count up, a transfer in)."""
        self.check_ceiling(self.on_hand, qty, "on hand")

    def check_not_beyond(self, qty: int, limit: int, what: str) -> None:
        if qty > limit:
            raise TouchpointRejected(
                "insufficient_stock", f"{self.ref}: {qty} exceeds {what} ({limit})"
            )

    # Commands, one per movement type.

    def receive(self, tp: PartReceived) -> None:
        self.check_room(tp.qty)
        self._move(self.Received, tp, unit_cost=tp.unit_cost)

    def reserve(self, tp: PartReserved) -> None:
        if tp.qty <= self.available:
            # within on_hand, so within MAX_STOCK: checked all the same, for a store whose
            # counts left on_hand below what is reserved
            self.check_ceiling(self.reserved, tp.qty, "reserved")
            self._move(self.Reserved, tp, repair_id=tp.repair_id)
        else:
            self.check_ceiling(self.backordered, tp.qty, "backordered")
            self._move(self.Backordered, tp, repair_id=tp.repair_id)

    def release(self, tp: PartReleased) -> None:
        held = self.reserved_for(tp.repair_id)
        if tp.qty > held:
            raise TouchpointRejected(
                "invalid_quantity",
                f"{self.ref}: releasing {tp.qty} exceeds the {held} reserved for "
                f"repair {tp.repair_id!r}",
            )
        self._move(self.Released, tp, repair_id=tp.repair_id)

    def issue(self, tp: PartIssued) -> None:
        day = tp.occurred_at.date()
        self.check_ceiling(self.issued_by_day.get(day, 0), tp.qty,
                           f"the quantity issued on {day.isoformat()}", MAX_ISSUED_PER_DAY)
        self.check_not_beyond(tp.qty, self.on_hand, "on hand")
        self._move(self.Issued, tp, repair_id=tp.repair_id)

    def take_return(self, tp: PartReturned) -> None:
        self.check_room(tp.qty)
        self._move(self.Returned, tp, repair_id=tp.repair_id)

    def adjust(self, tp: PartAdjusted) -> None:
        self.check_room(tp.qty)  # a count down always has room
        if self.on_hand + tp.qty < 0:
            raise TouchpointRejected(
                "insufficient_stock",
                f"{self.ref}: adjusting by {tp.qty} leaves on hand below 0 ({self.on_hand})",
            )
        self._move(self.Adjusted, tp, reason=tp.reason)

    def check_can_transfer(self, tp: PartTransferred) -> None:
        self.check_not_beyond(tp.qty, self.available, "available")

    def transfer_out(self, tp: PartTransferred) -> None:
        self.check_can_transfer(tp)
        self._move(self.TransferredOut, tp, to_location=tp.to_location)

    def transfer_in(self, tp: PartTransferred) -> None:
        self.trigger(self.TransferredIn, tp, part_id=self.part_id, location=self.location,
                     qty=tp.qty, from_location=tp.location)

    def _move(self, event_class: type[PartStock.Movement], tp: PartReceived | PartReserved
              | PartReleased | PartIssued | PartReturned | PartAdjusted | PartTransferred,
              **fields: object) -> None:
        self.trigger(event_class, tp, part_id=self.part_id, location=self.location, qty=tp.qty,
                     **fields)
