"""What the simulation tracks: customers, the entities their touchpoints name (orders,
invoices, cases, repairs) and the stock of each part at each location.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from journey.infra.workload.catalogue import LOCATIONS


class Customer:
    __slots__ = (
        "cases",
        "currency",
        "erred_at",
        "fixed_at",
        "id",
        "in_repair",
        "invoices",
        "orders",
        "repairs",
        "serials",
    )

    def __init__(self, cid: str, currency: str, serials: list[str]) -> None:
        self.id = cid
        self.currency = currency
        self.serials = serials
        self.orders: list[Order] = []
        self.invoices: list[Invoice] = []
        self.repairs: list[Repair] = []
        self.cases: list[Case] = []
        self.in_repair: set[str] = set()  # serials
        self.fixed_at: dict[str, int] = {}  # serial -> last `fixed` completion
        # when the first touchpoint with an error code (contract 3) on the customer's
        # timeline occurred, -1 while none has: ratings after it are low
        self.erred_at = -1


class SimEntity:
    """Something a lifecycle touchpoint names; invisible while one of its lines is held."""

    __slots__ = ("customer", "held_until", "id")
    kind = ""

    def __init__(self, eid: str, customer: Customer) -> None:
        self.id = eid
        self.customer = customer
        self.held_until = 0


class Order(SimEntity):
    __slots__ = ("attempts", "lines", "returned", "state", "total")
    kind = "order"

    def __init__(self, eid: str, customer: Customer, lines: list[tuple[str, int, int]]) -> None:
        super().__init__(eid, customer)
        self.lines = lines  # (sku, qty, unit price in cents)
        self.total = sum(qty * cents for _, qty, cents in lines)
        self.returned: dict[str, int] = {}
        self.state = "placed"  # placed | failed | delivered | cancelled
        self.attempts = 0


class Invoice(SimEntity):
    __slots__ = ("amount", "due", "paid", "payer", "reminders")
    kind = "invoice"

    def __init__(self, eid: str, customer: Customer, amount: int, due: int) -> None:
        super().__init__(eid, customer)
        self.amount = amount
        self.due = due
        self.paid = 0
        self.reminders = 0
        self.payer = "on_time"  # catalogue.PAYER


class Case(SimEntity):
    __slots__ = ("contacts_left", "gap", "next", "reopens", "state", "stuck")
    kind = "case"

    def __init__(self, eid: str, customer: Customer) -> None:
        super().__init__(eid, customer)
        self.state = "open"  # open | resolved | closed
        self.contacts_left = 0
        self.next = ""
        self.reopens = 0
        self.stuck = False  # never resolved
        self.gap = (0, 0)  # seconds between two steps: catalogue.CASE_GAPS


class StockRecord:
    """Contract 2.3 state of one (part, location), plus the replenishment policy."""

    __slots__ = (
        "backordered",
        "held_until",
        "location",
        "on_hand",
        "part",
        "pending",
        "reorder_point",
        "reserved",
        "unit_cost",
        "up_to",
    )

    def __init__(self, part: str, location: int, unit_cost: int, rop: int, up_to: int) -> None:
        self.part = part
        self.location = location
        self.unit_cost = unit_cost
        self.reorder_point = rop
        self.up_to = up_to
        self.on_hand = 0
        self.reserved = 0
        self.backordered = 0
        self.pending = False
        self.held_until = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def movement(self, qty: int, **more: Any) -> dict[str, Any]:
        """The fields of a movement of ``qty`` here, in the order lines carry them."""
        return {"part_id": self.part, "location": LOCATIONS[self.location], "qty": qty, **more}


class Repair(SimEntity):
    __slots__ = (
        "backorders",
        "cost",
        "issued",
        "location",
        "repeat",
        "reservations",
        "rounds",
        "serial",
        "slow",
        "state",
        "todo",
        "wait_until",
        "warranty",
    )
    kind = "repair"

    def __init__(
        self, eid: str, customer: Customer, serial: str, location: int, warranty: bool
    ) -> None:
        super().__init__(eid, customer)
        self.serial = serial
        self.location = location
        self.warranty = warranty
        self.state = "open"  # open | done | returned | dropped (never completed again)
        self.slow = 1  # stretches the gaps between steps
        self.rounds = 0
        self.todo: deque[tuple[str, StockRecord | None, int]] = deque()
        self.reservations: dict[StockRecord, int] = {}
        self.backorders: dict[StockRecord, int] = {}
        self.issued: dict[StockRecord, int] = {}
        self.wait_until = 0
        self.cost = 0
        self.repeat = False  # came back within 30 days of a `fixed`; does not come back again
