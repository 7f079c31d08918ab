"""The touchpoint view behind the timeline and the error rates: its fold and its tables.

Each name loads its module on first use: a query imports neither the fold nor the
aggregates it folds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journey.projections.lazy import lazy_exports

if TYPE_CHECKING:
    from journey.projections.touchpoints.fold import (
        MemoryTouchpointState,
        Pending,
        TouchpointChanges,
        TouchpointFold,
        TouchpointRow,
        TouchpointState,
        TouchpointWrites,
    )

#: Public name -> the module of this package that defines it.
_EXPORTS = {
    "MemoryTouchpointState": "fold",
    "Pending": "fold",
    "TouchpointChanges": "fold",
    "TouchpointFold": "fold",
    "TouchpointRow": "fold",
    "TouchpointState": "fold",
    "TouchpointWrites": "fold",
}

__all__ = [
    "MemoryTouchpointState",
    "Pending",
    "TouchpointChanges",
    "TouchpointFold",
    "TouchpointRow",
    "TouchpointState",
    "TouchpointWrites",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
