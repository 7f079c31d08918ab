"""Contract section 3: which touchpoint carries which error code, and the names views use.

How the views write a moment is in ``moments``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from journey.domain.base import TouchpointEvent
from journey.domain.cases import Case
from journey.domain.invoices import Invoice
from journey.domain.orders import Order
from journey.domain.repairs import Repair
from journey.domain.stock import PartStock

#: A repair request is a repeat when the serial had another repair completed ``fixed`` at most
#: this long before it (30 x 24 h, by occurred_at).
REPEAT_WINDOW_US = 30 * 24 * 3600 * 1_000_000


def is_repeat(request_us: int, fixed_us: int) -> bool:
    """Whether a request (of the same serial, another repair) at ``request_us`` is a
    ``repeat_repair`` of a ``fixed`` completion at ``fixed_us``: at most 30 days after it,
    by occurred_at (both in microseconds). The touchpoint and the service views share it."""
    return 0 <= request_us - fixed_us <= REPEAT_WINDOW_US

#: Event class -> contract type. ``TransferredIn`` is the second half of a transfer touchpoint.
CONTRACT_TYPES: dict[type[TouchpointEvent], str] = {
    Order.Placed: "purchase.placed",
    Order.Delivered: "purchase.delivered",
    Order.DeliveryFailed: "purchase.delivery_failed",
    Order.Returned: "purchase.returned",
    Order.Cancelled: "purchase.cancelled",
    Invoice.Issued: "invoice.issued",
    Invoice.Paid: "invoice.paid",
    Invoice.ReminderSent: "invoice.reminder_sent",
    Invoice.Corrected: "invoice.corrected",
    Case.Opened: "complaint.opened",
    Case.ContactLogged: "complaint.contact_logged",
    Case.Resolved: "complaint.resolved",
    Case.Reopened: "complaint.reopened",
    Case.Closed: "complaint.closed",
    Repair.Requested: "repair.requested",
    Repair.Completed: "repair.completed",
    Repair.Returned: "repair.returned",
    PartStock.Received: "part.received",
    PartStock.Reserved: "part.reserved",
    PartStock.Backordered: "part.reserved",
    PartStock.Released: "part.released",
    PartStock.Issued: "part.issued",
    PartStock.Returned: "part.returned",
    PartStock.Adjusted: "part.adjusted",
    PartStock.TransferredOut: "part.transferred",
}

_KIND_ENTITY = {"purchase": "order", "invoice": "invoice", "complaint": "case", "repair": "repair"}

#: Intrinsic codes beyond an upstream ``error``: ``repeat_repair`` is not intrinsic, it
#: depends on other repairs of the serial.
_CODE_RULES: dict[type[TouchpointEvent], Callable[[Any], str | None]] = {
    Order.DeliveryFailed: lambda event: "delivery_failed",
    Invoice.Corrected: lambda event: f"billing_{event.error_type}",
    Case.Reopened: lambda event: "case_reopened",
    Repair.Completed: lambda event: "repair_not_fixed" if event.outcome == "not_fixed" else None,
    PartStock.Backordered: lambda event: "stock_out",
}


@dataclass(frozen=True, slots=True)
class TouchpointClass:
    """What the views need to know of an event class, looked up once per event."""

    type: str  # the contract type, "purchase.placed"
    kind: str  # its first part, "purchase"
    entity_field: str | None  # "order_id"; None for part movements (part:P1@WH1)
    code_rule: Callable[[Any], str | None] | None

    def entity(self, event: Any) -> str:
        """How the contract names the entity of a touchpoint: ``order:O1``, ``part:P1@WH1``."""
        if self.entity_field is None:
            return f"part:{event.part_id}@{event.location}"
        return f"{self.entity_field[:-3]}:{getattr(event, self.entity_field)}"

    def code(self, event: Any) -> str | None:
        """The error code that follows from the event alone (upstream ``error`` wins)."""
        if event.error:
            return str(event.error)
        return self.code_rule(event) if self.code_rule else None


def _touchpoint_class(type_: str, cls: type[TouchpointEvent]) -> TouchpointClass:
    kind = type_.partition(".")[0]
    entity = _KIND_ENTITY.get(kind)
    return TouchpointClass(type_, kind, f"{entity}_id" if entity else None, _CODE_RULES.get(cls))


#: Event class -> what it records as a touchpoint; absent: nothing (registrations, ...).
TOUCHPOINT_CLASSES = {cls: _touchpoint_class(t, cls) for cls, t in CONTRACT_TYPES.items()}


def contract_type(event: Any) -> str | None:
    """The touchpoint type an event records, or None (registrations, transfer-in halves)."""
    found = TOUCHPOINT_CLASSES.get(type(event))
    return found.type if found else None
