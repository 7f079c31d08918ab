"""The arithmetic behind the service figures (contract 4.6-4.8): exact, no float on the way.

Times are integers (microseconds), ranks and ratios ``Fraction``s, money ``Decimal``s in a
context of ample precision that refuses to round (``Inexact`` is trapped). A figure becomes
a float (hours, rates, means) or a money string only at the very end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from typing import Any

US_PER_HOUR = 3_600_000_000
P50 = Fraction(1, 2)
P90 = Fraction(9, 10)

#: Money: amounts reach 10^26 (``schemas.fields``), their sums a few digits more; 80 digits
#: leave room for any sum of them, and a result that would need rounding raises instead.
MONEY = Context(prec=80, rounding=ROUND_HALF_EVEN,
                traps=[Inexact, InvalidOperation, Overflow, DivisionByZero])
ZERO = Decimal("0.00")
#: Rounds instead of raising: to tell whether a value has more than 2 decimals.
_ROUNDING = Context(prec=80, rounding=ROUND_HALF_EVEN)
_CENT = Decimal("0.01")


def hours(us: int | None) -> float | None:
    """Microseconds as hours rounded half-even to 2 decimals, exactly; ``None`` stays
    ``None``. Spans come from ``span``: never negative."""
    if us is None:
        return None
    return float(round(Fraction(us, US_PER_HOUR), 2))


def span(first_us: int, second_us: int) -> int:
    """The time between two touchpoints, the later one minus the earlier one (contract 4.6):
    a resolution dated before its opening (an upstream clock) counts by its distance."""
    return abs(second_us - first_us)


def rank(p: Fraction, n: int) -> int:
    """The nearest rank of percentile ``p`` among ``n`` values: ceil(p * n), at least 1."""
    return max(1, -((-p.numerator * n) // p.denominator))


def percentile(ordered: Sequence[int], p: Fraction) -> int | None:
    """The nearest-rank percentile ``p`` of values sorted ascending; ``None`` when empty."""
    if not ordered:
        return None
    return ordered[rank(p, len(ordered)) - 1]


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` rounded half-even to 4 decimals; ``None`` of an empty whole."""
    if not whole:
        return None
    return float(round(Fraction(part, whole), 4))


def mean(total: int, n: int) -> float | None:
    """``total / n`` rounded half-even to 2 decimals; ``None`` of nothing."""
    if not n:
        return None
    return float(round(Fraction(total, n), 2))


def money(value: Any) -> Decimal:
    """A money field of an event as a ``Decimal``: a ``Decimal`` (the mapper, the Kafka
    decoder), or the stored JSON form ``{"_type_": "decimal_str", "_data_": "12.50"}`` (the
    views' decoder), or a decimal string. Never a float."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, dict):
        return Decimal(value["_data_"])
    if isinstance(value, str | int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"not a money value: {value!r}")


def day(value: Any) -> str:
    """A calendar-date field (``due_date``) as ``YYYY-MM-DD``, whichever form it came in."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        value = value["_data_"]
    return date.fromisoformat(value).isoformat()


def cents(value: Decimal) -> Decimal:
    """``value`` with exactly 2 decimals (money has at most 2: nothing is rounded)."""
    found = value.quantize(_CENT, context=MONEY)
    return found if found else ZERO  # never -0.00


def money_text(value: Decimal) -> str:
    """Money as the views store and print it: exactly 2 decimals, ``"-3.25"``, ``"0.00"``."""
    text = str(value)
    if text[-3:-2] == "." and "E" not in text and text != "-0.00":
        return text  # already so (most values: the sums of 2-decimal amounts)
    return f"{cents(value):f}"


def add(a: Decimal, b: Decimal) -> Decimal:
    return MONEY.add(a, b)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    return MONEY.subtract(a, b)


def times(count: int, each: Decimal) -> Decimal:
    return MONEY.multiply(Decimal(count), each)


def cost_per_contact(value: object) -> Decimal:
    """A cost per contact given from Python (contract 4.7): a ``Decimal`` or an ``int``,
    finite, >= 0, with at most 2 decimals counted on the value, below 10^26 as money is;
    ``ValueError`` otherwise (a float never: money is never binary). The command line and
    ``JOURNEY_CONTACT_COST`` read text by the same rule (``infra.settings``)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"a cost per contact is a Decimal or an int, not {value!r}")
    amount = Decimal(value)
    if (not amount.is_finite() or amount < 0 or (amount and amount.adjusted() > 25)
            or amount.quantize(_CENT, context=_ROUNDING) != amount):
        raise ValueError(f"a cost per contact is a decimal >= 0 with at most 2 decimals, "
                         f"not {value!r}")
    return cents(amount)


def positive(value: Decimal) -> Decimal:
    """``value`` when above 0, else 0 (a balance's share of what is outstanding)."""
    return value if value > 0 else ZERO
