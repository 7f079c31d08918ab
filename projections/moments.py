"""Moments as the views keep and print them: RFC 3339 in UTC with a ``Z``, microseconds since
the epoch (sortable business time), the UTC calendar month.

Apart from ``classify`` (which imports every aggregate) so that the queries, which read what
the folds wrote, start without the domain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso_z(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: ``2026-03-01T08:00:00Z`` (fraction only when non-zero)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


#: Where microsecond times (``occurred_us``) count from.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST: list[tuple[Any, tuple[str, int, str]]] = [(None, ("", 0, ""))]  # instant's last


def instant(moment: datetime) -> tuple[str, int, str]:
    """A moment as the views keep it: RFC 3339 in UTC with a ``Z`` (as ``iso_z``),
    microseconds since the epoch (a sortable integer for business time), and the UTC
    calendar month ``YYYY-MM``; all three at once, the folds' hot path (each view's fold
    asks for the same event's moment in turn: the last answer is kept)."""
    last = _LAST[0]  # one tuple: a thread reads a moment and its own answer
    if last[0] is moment:  # the very object (held here, so its id cannot be reused)
        return last[1]
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    text = utc.isoformat()  # "...+00:00"
    delta = utc - EPOCH
    found = (text[:-6] + "Z", (delta.days * 86_400 + delta.seconds) * 1_000_000
             + delta.microseconds, text[:7])
    _LAST[0] = (moment, found)
    return found
