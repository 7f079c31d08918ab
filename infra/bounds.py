"""Time bounds as people write them, read by one parser for every command.

A bound names a period of UTC time:

==========  ===========================  ====================================
month       ``2026-03``                  all of March 2026
day         ``2026-03-15``               that whole day
instant     ``2026-03-15T10:00:00+01:00``  that moment (RFC 3339 with an offset, ``Z`` = UTC)
==========  ===========================  ====================================

A lower bound (``--from``) is the period's first microsecond; an upper bound (``--to``,
``--as-of``, ``--known-at``) its last, so ``--to 2026-03`` includes all of March and
``--as-of 2026-03-15`` everything that happened on that day. Bounds are inclusive, and a
range whose ``--from`` starts after its ``--to`` ends is refused (``check_range``).
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from journey.domain.errors import UsageError

#: What a bound may look like, for help texts and error messages.
FORMATS = "a month YYYY-MM, a day YYYY-MM-DD or an RFC 3339 time with an offset " \
          "(2026-03-01T10:00:00Z)"

_MONTH = re.compile(r"\d{4}-\d{2}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class BoundError(UsageError):
    """A time bound that is neither a month, a day nor an instant with an offset."""


@dataclass(frozen=True, slots=True)
class Period:
    """The UTC period a bound names, both ends inclusive."""

    first: datetime
    last: datetime

    @property
    def first_month(self) -> str:
        """``YYYY-MM`` of the period's start (a lower bound on monthly rows)."""
        return self.first.strftime("%Y-%m")

    @property
    def last_month(self) -> str:
        """``YYYY-MM`` of the period's end (an upper bound on monthly rows)."""
        return self.last.strftime("%Y-%m")


def period(text: str, option: str = "time bound") -> Period:
    """The period ``text`` names; ``option`` names the value in the error message."""
    text = text.strip()
    try:
        if _MONTH.fullmatch(text):
            first = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
            days = calendar.monthrange(first.year, first.month)[1]
            return Period(first, datetime.combine(first.replace(day=days), time.max, UTC))
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            return Period(datetime.combine(day, time.min, UTC),
                          datetime.combine(day, time.max, UTC))
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except (ValueError, IndexError, OverflowError):
        raise BoundError(f"{option}: expected {FORMATS} (got {_got(text)})") from None
    if moment.utcoffset() is None:
        raise BoundError(f"{option}: the time needs an offset, Z or +HH:MM (got {_got(text)})")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first UTC moment
        raise BoundError(f"{option}: outside the years 1 to 9999 in UTC (got {_got(text)})"
                         ) from None
    return Period(moment, moment)


def check_range(first: str | None, last: str | None, first_option: str = "--from",
                last_option: str = "--to") -> None:
    """Refuse a range that ends before it starts (``--from 2026-05 --to 2026-03``); each
    bound on its own must be valid too. Either may be ``None`` (open)."""
    if first is None or last is None:
        for text, option in ((first, first_option), (last, last_option)):
            if text is not None:
                period(text, option)
        return
    if period(first, first_option).first > period(last, last_option).last:
        raise BoundError(f"{first_option} {first} starts after {last_option} {last} ends: a "
                         f"reversed range (got {_got(first)} and {_got(last)})")


def _got(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def lower(text: str, option: str = "time bound") -> datetime:
    """The first instant of the period ``text`` names (``--from``)."""
    return period(text, option).first


def upper(text: str, option: str = "time bound") -> datetime:
    """The last instant of the period ``text`` names (``--to``, ``--as-of``)."""
    return period(text, option).last
