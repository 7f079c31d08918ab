"""Contract section 3: which touchpoint carries which error code, and the names views use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.base import TouchpointEvent
from domain.cases import Case
from domain.invoices import Invoice
from domain.orders import Order
from domain.repairs import Repair
from domain.stock import PartStock

#: A repair request is a repeat when the serial had another repair completed ``fixed`` at most
#: this long before it (30 x 24 h, by occurred_at).
REPEAT_WINDOW_US = 30 * 24 * 3600 * 1_000_000

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

_ENTITY_FIELDS = (("order", "order_id"), ("invoice", "invoice_id"), ("case", "case_id"),
                  ("repair", "repair_id"))
_KIND_ENTITY = {"purchase": "order", "invoice": "invoice", "complaint": "case", "repair": "repair"}


def contract_type(event: Any) -> str | None:
    """The touchpoint type an event records, or None (registrations, transfer-in halves)."""
    return CONTRACT_TYPES.get(type(event))


def entity_of(event: Any, type_: str) -> str:
    """How the contract names the entity of a touchpoint: ``order:O1``, ``part:P1@WH1``."""
    kind = type_.partition(".")[0]
    if kind == "part":
        return f"part:{event.part_id}@{event.location}"
    entity = _KIND_ENTITY[kind]
    return f"{entity}:{getattr(event, entity + '_id')}"


def intrinsic_code(event: Any) -> str | None:
    """The error code that follows from the event alone (upstream ``error`` wins).

    ``repeat_repair`` is not intrinsic: it depends on other repairs of the serial.
    """
    if event.error:
        return str(event.error)
    if isinstance(event, Order.DeliveryFailed):
        return "delivery_failed"
    if isinstance(event, Invoice.Corrected):
        return f"billing_{event.error_type}"
    if isinstance(event, Case.Reopened):
        return "case_reopened"
    if isinstance(event, Repair.Completed) and event.outcome == "not_fixed":
        return "repair_not_fixed"
    if isinstance(event, PartStock.Backordered):
        return "stock_out"
    return None


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: a sortable integer for business time."""
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def month_of(moment: datetime) -> str:
    """The UTC calendar month, ``YYYY-MM``."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def iso_z(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: ``2026-03-01T08:00:00Z`` (fraction only when non-zero)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
