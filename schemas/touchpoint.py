"""The touchpoint models of contract v1, sections 1.1 and 1.2: one frozen pydantic model per type.

Validation is strict: a field has exactly its JSON type (an integer is a JSON integer, never
``1.0``, ``"1"`` or ``true``), any field the type does not list is refused, and a field that is
present must hold a value of its type (``null`` is not "absent"). Models are built once, at
import; ``schemas.parsing.parse_line`` is the way in from raw bytes.

Where the contract is silent, these choices hold (each is named where it is made):

* free text (``reason``, ``resolution``, ``fault``, ``text``, ``source``) may be empty: the
  contract gives maxima, no minimum; the ``error`` code needs one character at least (an empty
  code would mark a service error with no code);
* money has at most 2 decimals counted on the value (``1.10`` and ``1.100`` are fine), is below
  10^26 in magnitude, and is kept with an exponent between -2 and 0 (``1E+2`` becomes ``100``);
* ``occurred_at`` rejects the leap second ``:60`` (Python's ``datetime`` cannot hold it) and keeps
  microseconds, truncating further digits.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeAlias, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

T = TypeVar("T")

if TYPE_CHECKING:
    #: A field that may be left out (then it is ``None``) but is never ``null`` when present.
    Omittable: TypeAlias = T | None
else:

    class Omittable:
        """At run time ``Omittable[X]`` is ``X``: pydantic then refuses ``null``, while the
        ``None`` default still stands for "left out"; type checkers see ``X | None``."""

        def __class_getitem__(cls, item: Any) -> Any:
            return item


#: Error type of the contract's own checks; the message is shown with the offending value.
VALUE_ERROR = "journey_value"
#: Error type of a check about a field's presence; the message is shown alone.
PRESENCE_ERROR = "journey_presence"


def violation(message: str) -> PydanticCustomError:
    """A contract violation about a value, e.g. ``violation("must have at most 2 decimals")``."""
    return PydanticCustomError(VALUE_ERROR, message)


def kind_of(touchpoint_type: str) -> str:
    """The part of a type before the dot (contract 4): ``purchase`` for ``purchase.placed``."""
    return touchpoint_type.partition(".")[0]


# --- Field types -------------------------------------------------------------------------------


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    Field(description="a string of 1-128 characters"),
]
TouchpointId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
    Field(description="a string of 1-128 characters of A-Z a-z 0-9 . _ : -"),
]
Source = Annotated[
    str, StringConstraints(max_length=64), Field(description="a string of at most 64 characters")
]
# An empty error code would count as a service error with no code, so one character at least.
ErrorCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9_]{1,64}$"),
    Field(description="a string of 1-64 characters of a-z 0-9 _"),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="3 upper-case letters (A-Z)"),
]
# Free text: the contract sets a maximum where it gives one and no minimum, so "" is a string.
Reason = Annotated[str, Field(description="a string")]
ShortText = Annotated[
    str,
    StringConstraints(max_length=200),
    Field(description="a string of at most 200 characters"),
]
LongText = Annotated[
    str,
    StringConstraints(max_length=2000),
    Field(description="a string of at most 2000 characters"),
]

Quantity = Annotated[int, Field(ge=1, description="an integer >= 1")]
Satisfaction = Annotated[int, Field(ge=1, le=5, description="an integer from 1 to 5")]
Flag = Annotated[bool, Field(description="a JSON boolean (true or false)")]

Channel = Literal["web", "phone", "email", "chat", "store", "field", "system"]
ErrorType = Literal[
    "wrong_amount", "duplicate", "wrong_customer", "missing_line", "tax", "pricing", "other"
]
Category = Literal["billing", "delivery", "product", "repair", "parts", "service", "other"]
SubjectType = Literal["order", "invoice", "repair"]
Demand = Literal["value", "failure", "unknown"]
Direction = Literal["inbound", "outbound"]
Outcome = Literal["fixed", "not_fixed", "no_fault_found"]


def _nonzero(quantity: int) -> int:
    if quantity == 0:
        raise violation("must be an integer other than 0")
    return quantity


Delta = Annotated[int, AfterValidator(_nonzero), Field(description="an integer other than 0")]


# Money: a JSON number or a decimal string; never a float, never a boolean.

_DECIMAL_STRING = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Money stays below 10^26 so that 2 decimals fit the 28 digits of the default decimal context:
# sums stay exact and an exponent like 1e999999999 cannot overflow arithmetic downstream.
_MONEY_MAX_ADJUSTED = 25
_EXACT = Context(prec=60)
_CENT = Decimal("0.01")
_UNIT = Decimal(1)
_MONEY_FORM = 'must be a JSON number or a decimal string like "12.50"'


def _to_money(value: object) -> Decimal:
    if isinstance(value, bool):  # an int to Python, never money to the contract
        raise violation(_MONEY_FORM)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) or (isinstance(value, str) and _DECIMAL_STRING.fullmatch(value)):
        amount = Decimal(value)
    else:
        raise violation(_MONEY_FORM)
    if not amount.is_finite():
        raise violation("must be a finite number")
    if amount and amount.adjusted() > _MONEY_MAX_ADJUSTED:
        raise violation("must be below 10^26 in magnitude")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent < -2:
        # Decimals are counted on the value: the digits beyond the second must all be 0.
        if any(amount.as_tuple().digits[exponent + 2 :]):
            raise violation("must have at most 2 decimals")
        amount = amount.quantize(_CENT, context=_EXACT)
    elif exponent > 0:
        amount = amount.quantize(_UNIT, context=_EXACT)
    if amount.is_zero() and amount.is_signed():
        amount = amount.copy_abs()
    return amount


def _non_negative_money(value: object) -> Decimal:
    amount = _to_money(value)
    if amount < 0:
        raise violation("must be >= 0")
    return amount


def _positive_money(value: object) -> Decimal:
    amount = _to_money(value)
    if amount <= 0:
        raise violation("must be > 0")
    return amount


Money = Annotated[Decimal, PlainValidator(_to_money)]
NonNegativeMoney = Annotated[Decimal, PlainValidator(_non_negative_money)]
PositiveMoney = Annotated[Decimal, PlainValidator(_positive_money)]


# Time: RFC 3339 with a mandatory offset; business time is kept in UTC.

_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_TIMESTAMP_FORM = "must be an RFC 3339 timestamp with offset, e.g. 2024-05-01T10:00:00Z"


def _to_utc(value: object) -> datetime:
    # The pattern is the contract's form; fromisoformat then checks the calendar and the clock
    # (no February 30th, no hour 24, no leap second :60) and truncates beyond microseconds.
    if type(value) is not str or _TIMESTAMP.fullmatch(value) is None:
        raise violation(_TIMESTAMP_FORM)
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        raise violation("must be a real date and time") from None
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise violation("must stay within years 1-9999 once converted to UTC") from None


_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _to_date(value: object) -> date:
    if type(value) is not str:
        raise violation("must be a date string YYYY-MM-DD")
    match = _DATE.fullmatch(value)
    if match is None:
        raise violation("must be a date string YYYY-MM-DD")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise violation("must be a real date") from None


Timestamp = Annotated[datetime, PlainValidator(_to_utc)]
Day = Annotated[date, PlainValidator(_to_date)]


def _absent(value: object) -> None:
    raise PydanticCustomError(PRESENCE_ERROR, "must be absent for part.* types")


#: ``customer_id`` of a part movement: any value, even ``null``, is refused.
NoCustomer = Annotated[None, PlainValidator(_absent)]


# --- Models ------------------------------------------------------------------------------------


class Strict(BaseModel):
    """Frozen, strict, closed: the shared configuration of every contract model."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class OrderLine(Strict):
    """A line of ``purchase.placed``."""

    sku: Identifier
    qty: Quantity
    unit_price: NonNegativeMoney


class ReturnLine(Strict):
    """A line of ``purchase.returned``."""

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
    type: Literal["purchase.placed"]
    lines: OrderLines
    currency: Currency


class PurchaseDelivered(PurchaseTouchpoint):
    type: Literal["purchase.delivered"]


class PurchaseDeliveryFailed(PurchaseTouchpoint):
    type: Literal["purchase.delivery_failed"]
    reason: ShortText


class PurchaseReturned(PurchaseTouchpoint):
    type: Literal["purchase.returned"]
    lines: ReturnLines
    reason: Reason


class PurchaseCancelled(PurchaseTouchpoint):
    type: Literal["purchase.cancelled"]
    reason: Reason


class InvoiceIssued(InvoiceTouchpoint):
    type: Literal["invoice.issued"]
    amount: NonNegativeMoney
    currency: Currency
    due_date: Day
    order_id: Omittable[Identifier] = None


class InvoicePaid(InvoiceTouchpoint):
    type: Literal["invoice.paid"]
    amount: PositiveMoney


class InvoiceReminderSent(InvoiceTouchpoint):
    type: Literal["invoice.reminder_sent"]


class InvoiceCorrected(InvoiceTouchpoint):
    type: Literal["invoice.corrected"]
    error_type: ErrorType
    amount_delta: Money


class ComplaintOpened(ComplaintTouchpoint):
    type: Literal["complaint.opened"]
    category: Category
    subject: Omittable[Subject] = None
    demand: Demand = "unknown"
    text: Omittable[LongText] = None


class ComplaintContactLogged(ComplaintTouchpoint):
    type: Literal["complaint.contact_logged"]
    direction: Direction


class ComplaintResolved(ComplaintTouchpoint):
    type: Literal["complaint.resolved"]
    resolution: ShortText
    satisfaction: Omittable[Satisfaction] = None


class ComplaintReopened(ComplaintTouchpoint):
    type: Literal["complaint.reopened"]
    reason: Reason


class ComplaintClosed(ComplaintTouchpoint):
    type: Literal["complaint.closed"]


class RepairRequested(RepairTouchpoint):
    type: Literal["repair.requested"]
    serial: Identifier
    fault: ShortText
    warranty: Flag
    case_id: Omittable[Identifier] = None


class RepairCompleted(RepairTouchpoint):
    type: Literal["repair.completed"]
    outcome: Outcome


class RepairReturned(RepairTouchpoint):
    type: Literal["repair.returned"]


class PartReceived(PartTouchpoint):
    type: Literal["part.received"]
    qty: Quantity
    unit_cost: Omittable[NonNegativeMoney] = None


class PartReserved(PartTouchpoint):
    type: Literal["part.reserved"]
    qty: Quantity
    repair_id: Identifier


class PartReleased(PartTouchpoint):
    type: Literal["part.released"]
    qty: Quantity
    repair_id: Identifier


class PartIssued(PartTouchpoint):
    type: Literal["part.issued"]
    qty: Quantity
    repair_id: Identifier


class PartReturned(PartTouchpoint):
    type: Literal["part.returned"]
    qty: Quantity
    repair_id: Omittable[Identifier] = None


class PartAdjusted(PartTouchpoint):
    type: Literal["part.adjusted"]
    qty: Delta
    reason: Reason


class PartTransferred(PartTouchpoint):
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
