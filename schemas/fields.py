"""The field types of the touchpoint contract (v1, section 1): one annotated type per rule.

``schemas.touchpoint`` builds its models from these; each type carries its own check, its
description (``schemas.parsing`` shows it in a reject's detail) and what JSON Schema can say
about it (``schemas.jsonschema``). A check the contract gives a reason for raises
``violation(...)`` (error type ``VALUE_ERROR``); a check about a field's presence raises
``PRESENCE_ERROR``.

Where the contract is silent, these choices hold:

* free text (``reason``, ``resolution``, ``fault``, ``text``, ``source``) may be empty: the
  contract gives maxima, no minimum; the ``error`` code needs one character at least (an empty
  code would mark a service error with no code);
* money has at most 2 decimals counted on the value (``1.10`` and ``1.100`` are fine), is below
  10^26 in magnitude, and is kept with an exponent between -2 and 0 (``1E+2`` becomes ``100``);
* ``occurred_at`` rejects the leap second ``:60`` (Python's ``datetime`` cannot hold it) and keeps
  microseconds, truncating further digits.

Engine bounds beyond the contract (deviations: every stored value must fit every store and every
view column, on SQLite and PostgreSQL alike, so one line can never break the views):

* a quantity is at most ``MAX_QTY`` (10^8) in magnitude: sums of many of them stay far inside a
  64-bit column, and the stock view's sum of squared daily issues too (``journey.domain.stock``
  bounds the stored sums themselves);
* identifiers (and ``customer_id``, ``source``) hold no control character (``Cc``: U+0000-U+001F,
  U+007F-U+009F): they are keys, labels and view columns, and PostgreSQL text cannot hold NUL;
* free text holds no NUL (U+0000), which PostgreSQL text cannot hold; other control characters
  (tab, line feed ...) and the Unicode line separators are kept, as notes may need them;
* ``occurred_at`` (in UTC) and ``due_date`` fall within years ``MIN_YEAR``-``MAX_YEAR``
  (1900-9000), so that date arithmetic (month buckets, planning windows, the repeat-repair
  window, as-of bounds, Avro timestamps) never leaves Python's years 1-9999.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import AfterValidator, Field, PlainValidator, StringConstraints, WithJsonSchema
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


# --- Engine bounds (see the module docstring) ----------------------------------------------------

#: The largest quantity one touchpoint may carry (``qty``; ``part.adjusted`` in magnitude).
MAX_QTY = 10**8
#: Business time (``occurred_at`` in UTC, ``due_date``) stays within these years.
MIN_YEAR, MAX_YEAR = 1900, 9000

# A control character (Unicode category Cc): C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_JSON = {"not": {"pattern": "[\\u0000-\\u001f\\u007f-\\u009f]"}}
_NUL_JSON = {"not": {"pattern": "\\u0000"}}
# "not pattern" finds the character anywhere: no anchor, so no "$ before a final line feed".


def _no_control(text: str) -> str:
    found = _CONTROL.search(text)
    if found is not None:
        raise violation(f"must not contain control characters (found U+{ord(found[0]):04X})")
    return text


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise violation("must not contain NUL (U+0000)")
    return text


# --- Field types -------------------------------------------------------------------------------


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(_no_control),
    Field(description="a string of 1-128 characters, no control characters",
          json_schema_extra=_CONTROL_JSON),
]
TouchpointId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
    Field(description="a string of 1-128 characters of A-Z a-z 0-9 . _ : -"),
]
Source = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_no_control),
    Field(description="a string of at most 64 characters, no control characters",
          json_schema_extra=_CONTROL_JSON),
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
Reason = Annotated[
    str, AfterValidator(_no_nul), Field(description="a string without NUL",
                                        json_schema_extra=_NUL_JSON)
]
ShortText = Annotated[
    str,
    StringConstraints(max_length=200),
    AfterValidator(_no_nul),
    Field(description="a string of at most 200 characters, without NUL",
          json_schema_extra=_NUL_JSON),
]
LongText = Annotated[
    str,
    StringConstraints(max_length=2000),
    AfterValidator(_no_nul),
    Field(description="a string of at most 2000 characters, without NUL",
          json_schema_extra=_NUL_JSON),
]

Quantity = Annotated[int, Field(ge=1, le=MAX_QTY, description=f"an integer from 1 to {MAX_QTY}")]
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


Delta = Annotated[
    int,
    Field(ge=-MAX_QTY, le=MAX_QTY),
    AfterValidator(_nonzero),
    Field(description=f"an integer other than 0, from -{MAX_QTY} to {MAX_QTY}",
          json_schema_extra={"not": {"const": 0}}),
]


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


# What JSON Schema can say about money (``schemas.jsonschema``): a decimal string's pattern holds
# every rule above; for a JSON number the schema gives the sign and the magnitude, not the
# decimals (``multipleOf: 0.01`` would, but validators that divide binary floats refuse 19.99).
_MONEY_LIMIT = 10 ** (_MONEY_MAX_ADJUSTED + 1)
_UNITS = "0*[0-9]{1,26}"  # below 10^26: at most 26 digits once leading zeros are gone
_FRACTION = r"(?:\.[0-9]{1,2}0*)?"  # any digit after the second decimal is a 0
_MONEY_DOC = (
    'an exact decimal: a JSON number or a decimal string like "12.50", '
    "with at most 2 decimals and below 10^26 in magnitude"
)


def _money_schema(bound: dict[str, int], pattern: str, rule: str = "") -> WithJsonSchema:
    return WithJsonSchema(
        {
            "description": _MONEY_DOC + rule,
            "anyOf": [
                {"type": "number", **bound, "exclusiveMaximum": _MONEY_LIMIT},
                {"type": "string", "pattern": f"^{pattern}$"},
            ],
        }
    )


Money = Annotated[
    Decimal,
    PlainValidator(_to_money),
    _money_schema({"exclusiveMinimum": -_MONEY_LIMIT}, f"-?{_UNITS}{_FRACTION}"),
]
NonNegativeMoney = Annotated[
    Decimal,
    PlainValidator(_non_negative_money),
    _money_schema({"minimum": 0}, rf"(?:{_UNITS}{_FRACTION}|-0+(?:\.0+)?)", ", >= 0"),
]
PositiveMoney = Annotated[
    Decimal,
    PlainValidator(_positive_money),
    _money_schema(
        {"exclusiveMinimum": 0},
        rf"(?:0*[1-9][0-9]{{0,25}}{_FRACTION}|0+\.(?:0[1-9]|[1-9][0-9]?)0*)",
        ", > 0",
    ),
]


# Time: RFC 3339 with a mandatory offset; business time is kept in UTC.

_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_TIMESTAMP_FORM = "must be an RFC 3339 timestamp with offset, e.g. 2024-05-01T10:00:00Z"
_YEARS_RULE = f"must fall within years {MIN_YEAR}-{MAX_YEAR}"


def _to_utc(value: object) -> datetime:
    # The pattern is the contract's form; fromisoformat then checks the calendar and the clock
    # (no February 30th, no hour 24, no leap second :60) and truncates beyond microseconds.
    if type(value) is not str or _TIMESTAMP.fullmatch(value) is None:
        raise violation(_TIMESTAMP_FORM)
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        raise violation("must be a real date and time") from None
    if moment.tzinfo is not UTC:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise violation(_YEARS_RULE + " once converted to UTC") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise violation(_YEARS_RULE + " once converted to UTC")
    return moment


_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _to_date(value: object) -> date:
    if type(value) is not str:
        raise violation("must be a date string YYYY-MM-DD")
    match = _DATE.fullmatch(value)
    if match is None:
        raise violation("must be a date string YYYY-MM-DD")
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise violation("must be a real date") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise violation(_YEARS_RULE)
    return day


# The JSON Schema forms (``schemas.jsonschema``): the range of every part, not the length of a
# month, leap years, nor the years MIN_YEAR-MAX_YEAR once an offset is applied.
_YEAR = "(?:19[0-9]{2}|[2-8][0-9]{3}|9000)"  # MIN_YEAR-MAX_YEAR: 1900-9000
assert (MIN_YEAR, MAX_YEAR) == (1900, 9000), "update _YEAR with the years"
_MONTH_DAY = "(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_CLOCK = "(?:[01][0-9]|2[0-3]):[0-5][0-9]"  # hh:mm, also of an offset
_SECONDS = r":[0-5][0-9](?:\.[0-9]+)?"

Timestamp = Annotated[
    datetime,
    PlainValidator(_to_utc),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": f"^{_YEAR}-{_MONTH_DAY}[Tt]{_CLOCK}{_SECONDS}(?:[Zz]|[+-]{_CLOCK})$",
            "description": "an RFC 3339 timestamp with offset, e.g. 2024-05-01T10:00:00Z, "
                           f"within years {MIN_YEAR}-{MAX_YEAR} in UTC",
        }
    ),
]
Day = Annotated[
    date,
    PlainValidator(_to_date),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": f"^{_YEAR}-{_MONTH_DAY}$",
            "description": f"a date YYYY-MM-DD within years {MIN_YEAR}-{MAX_YEAR}",
        }
    ),
]


def _absent(value: object) -> None:
    raise PydanticCustomError(PRESENCE_ERROR, "must be absent for part.* types")


#: ``customer_id`` of a part movement: any value, even ``null``, is refused.
NoCustomer = Annotated[
    None,
    PlainValidator(_absent),
    WithJsonSchema({"not": {}, "description": "must be absent for part.* types"}),
]
