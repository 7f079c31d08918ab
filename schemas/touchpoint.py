"""The touchpoint models of contract v1, sections 1.1 and 1.2: one frozen pydantic model per type.

Validation is strict: a field has exactly its JSON type (an integer is a JSON integer, never
``1.0``, ``"1"`` or ``true``), any field the type does not list is refused, and a field that is
present must hold a value of its type (``null`` is not "absent"). Models are built once, at
import; ``schemas.parsing.parse_line`` is the way in from raw bytes.

The field types and their checks (identifiers, money, timestamps, enumerations ...) live in
``schemas.fields``, with the choices made where the contract is silent; they are re-exported
here, so ``touchpoint.Money`` and ``fields.Money`` are the same type.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from journey.schemas.fields import (
    PRESENCE_ERROR,
    VALUE_ERROR,
    Category,
    Channel,
    Currency,
    Day,
    Delta,
    Demand,
    Direction,
    ErrorCode,
    ErrorType,
    Flag,
    Identifier,
    LongText,
    Money,
    NoCustomer,
    NonNegativeMoney,
    Omittable,
    Outcome,
    PositiveMoney,
    Quantity,
    Reason,
    Satisfaction,
    ShortText,
    Source,
    SubjectType,
    Timestamp,
    TouchpointId,
    violation,
)

__all__ = [  # the models, and the field types of schemas.fields they are made of
    "PRESENCE_ERROR", "TOUCHPOINT_TYPES", "VALUE_ERROR", "Category", "Channel", "ComplaintClosed",
    "ComplaintContactLogged", "ComplaintOpened", "ComplaintReopened", "ComplaintResolved",
    "ComplaintTouchpoint", "Currency", "Day", "Delta", "Demand", "Direction", "ErrorCode",
    "ErrorType", "Flag", "Identifier", "InvoiceCorrected", "InvoiceIssued", "InvoicePaid",
    "InvoiceReminderSent", "InvoiceTouchpoint", "LongText", "Money", "NoCustomer",
    "NonNegativeMoney", "Omittable", "OrderLine", "OrderLines", "Outcome", "PartAdjusted",
    "PartIssued", "PartReceived", "PartReleased", "PartReserved", "PartReturned", "PartTouchpoint",
    "PartTransferred", "PositiveMoney", "PurchaseCancelled", "PurchaseDelivered",
    "PurchaseDeliveryFailed", "PurchasePlaced", "PurchaseReturned", "PurchaseTouchpoint",
    "Quantity", "Reason", "RepairCompleted", "RepairRequested", "RepairReturned",
    "RepairTouchpoint", "ReturnLine", "ReturnLines", "Satisfaction", "ShortText", "Source",
    "Strict", "Subject", "SubjectType", "Timestamp", "Touchpoint", "TouchpointId", "kind_of",
    "violation",
]


def kind_of(touchpoint_type: str) -> str:
    """The part of a type before the dot (contract 4): ``purchase`` for ``purchase.placed``."""
    return touchpoint_type.partition(".")[0]


# --- Models ------------------------------------------------------------------------------------


class Strict(BaseModel):
    """Frozen, strict, closed: the shared configuration of every contract model."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class OrderLine(Strict):
    """A line of purchase.placed."""

    sku: Identifier
    qty: Quantity
    unit_price: NonNegativeMoney


class ReturnLine(Strict):
    """A line of purchase.returned."""

    sku: Identifier
    qty: Quantity


class Subject(Strict):
    """The entity a complaint is about."""

    type: SubjectType
    id: Identifier


OrderLines = Annotated[
    list[OrderLine], Field(min_length=1, max_length=500, description="an array of 1-500 lines")
]
ReturnLines = Annotated[
    list[ReturnLine], Field(min_length=1, max_length=500, description="an array of 1-500 lines")
]


class Touchpoint(Strict):
    """The envelope every touchpoint carries (contract 1.1); ``occurred_at`` is in UTC."""

    touchpoint_id: TouchpointId
    type: str
    occurred_at: Timestamp
    customer_id: Omittable[Identifier] = None
    channel: Omittable[Channel] = None
    source: Omittable[Source] = None
    error: Omittable[ErrorCode] = None

    @property
    def kind(self) -> str:
        """The part of ``type`` before the dot: purchase, invoice, complaint, repair, part."""
        return kind_of(self.type)


class PurchaseTouchpoint(Touchpoint):
    """A touchpoint about a customer's order."""

    customer_id: Identifier
    order_id: Identifier


class InvoiceTouchpoint(Touchpoint):
    """A touchpoint about a customer's invoice."""

    customer_id: Identifier
    invoice_id: Identifier


class ComplaintTouchpoint(Touchpoint):
    """A touchpoint about a customer's complaint case."""

    customer_id: Identifier
    case_id: Identifier


class RepairTouchpoint(Touchpoint):
    """A touchpoint about a customer's repair."""

    customer_id: Identifier
    repair_id: Identifier


class PartTouchpoint(Touchpoint):
    """A stock movement of a part at a location; it names no customer."""

    customer_id: NoCustomer = None
    part_id: Identifier
    location: Identifier


class PurchasePlaced(PurchaseTouchpoint):
    """An order was placed: creates order order_id."""
    type: Literal["purchase.placed"]
    lines: OrderLines
    currency: Currency


class PurchaseDelivered(PurchaseTouchpoint):
    """The order was delivered."""
    type: Literal["purchase.delivered"]


class PurchaseDeliveryFailed(PurchaseTouchpoint):
    """A delivery of the order failed (error code delivery_failed)."""
    type: Literal["purchase.delivery_failed"]
    reason: ShortText


class PurchaseReturned(PurchaseTouchpoint):
    """Lines of a delivered order came back (at most what was ordered)."""
    type: Literal["purchase.returned"]
    lines: ReturnLines
    reason: Reason


class PurchaseCancelled(PurchaseTouchpoint):
    """The order was cancelled."""
    type: Literal["purchase.cancelled"]
    reason: Reason


class InvoiceIssued(InvoiceTouchpoint):
    """An invoice was issued: creates invoice invoice_id."""
    type: Literal["invoice.issued"]
    amount: NonNegativeMoney
    currency: Currency
    due_date: Day
    order_id: Omittable[Identifier] = None


class InvoicePaid(InvoiceTouchpoint):
    """A payment towards the invoice."""
    type: Literal["invoice.paid"]
    amount: PositiveMoney


class InvoiceReminderSent(InvoiceTouchpoint):
    """A payment reminder was sent."""
    type: Literal["invoice.reminder_sent"]


class InvoiceCorrected(InvoiceTouchpoint):
    """The invoice was corrected (error code billing_<error_type>)."""
    type: Literal["invoice.corrected"]
    error_type: ErrorType
    amount_delta: Money


class ComplaintOpened(ComplaintTouchpoint):
    """A complaint was made: creates case case_id."""
    type: Literal["complaint.opened"]
    category: Category
    subject: Omittable[Subject] = None
    demand: Demand = "unknown"
    text: Omittable[LongText] = None


class ComplaintContactLogged(ComplaintTouchpoint):
    """A contact about an open case."""
    type: Literal["complaint.contact_logged"]
    direction: Direction


class ComplaintResolved(ComplaintTouchpoint):
    """The case was resolved, optionally with a satisfaction rating."""
    type: Literal["complaint.resolved"]
    resolution: ShortText
    satisfaction: Omittable[Satisfaction] = None


class ComplaintReopened(ComplaintTouchpoint):
    """A resolved case was reopened (error code case_reopened)."""
    type: Literal["complaint.reopened"]
    reason: Reason


class ComplaintClosed(ComplaintTouchpoint):
    """A resolved case was closed."""
    type: Literal["complaint.closed"]


class RepairRequested(RepairTouchpoint):
    """A repair was requested: creates repair repair_id."""
    type: Literal["repair.requested"]
    serial: Identifier
    fault: ShortText
    warranty: Flag
    case_id: Omittable[Identifier] = None


class RepairCompleted(RepairTouchpoint):
    """The repair was completed (outcome not_fixed: error code repair_not_fixed)."""
    type: Literal["repair.completed"]
    outcome: Outcome


class RepairReturned(RepairTouchpoint):
    """The repaired item went back to the customer."""
    type: Literal["repair.returned"]


class PartReceived(PartTouchpoint):
    """Parts arrived at a location: on_hand += qty."""
    type: Literal["part.received"]
    qty: Quantity
    unit_cost: Omittable[NonNegativeMoney] = None


class PartReserved(PartTouchpoint):
    """Parts reserved for a repair; beyond what is available, a stock-out."""
    type: Literal["part.reserved"]
    qty: Quantity
    repair_id: Identifier


class PartReleased(PartTouchpoint):
    """A repair's reservation was released."""
    type: Literal["part.released"]
    qty: Quantity
    repair_id: Identifier


class PartIssued(PartTouchpoint):
    """Parts were issued to a repair: on_hand -= qty."""
    type: Literal["part.issued"]
    qty: Quantity
    repair_id: Identifier


class PartReturned(PartTouchpoint):
    """Parts came back to a location: on_hand += qty."""
    type: Literal["part.returned"]
    qty: Quantity
    repair_id: Omittable[Identifier] = None


class PartAdjusted(PartTouchpoint):
    """A stock count: on_hand += qty, a signed delta."""
    type: Literal["part.adjusted"]
    qty: Delta
    reason: Reason


class PartTransferred(PartTouchpoint):
    """Parts moved from location to to_location."""
    type: Literal["part.transferred"]
    to_location: Identifier
    qty: Quantity

    @model_validator(mode="after")
    def check_moves_somewhere(self) -> Self:
        if self.to_location == self.location:
            raise PydanticCustomError(PRESENCE_ERROR, "to_location: must differ from location")
        return self


#: Every type of contract 1.2, by its ``type`` string.
TOUCHPOINT_TYPES: dict[str, type[Touchpoint]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in (
        PurchasePlaced,
        PurchaseDelivered,
        PurchaseDeliveryFailed,
        PurchaseReturned,
        PurchaseCancelled,
        InvoiceIssued,
        InvoicePaid,
        InvoiceReminderSent,
        InvoiceCorrected,
        ComplaintOpened,
        ComplaintContactLogged,
        ComplaintResolved,
        ComplaintReopened,
        ComplaintClosed,
        RepairRequested,
        RepairCompleted,
        RepairReturned,
        PartReceived,
        PartReserved,
        PartReleased,
        PartIssued,
        PartReturned,
        PartAdjusted,
        PartTransferred,
    )
}
