"""The touchpoint view behind the timeline and the error rates: its fold and its tables."""

from journey.projections.touchpoints.fold import (
    MemoryTouchpointState,
    Pending,
    TouchpointChanges,
    TouchpointFold,
    TouchpointRow,
    TouchpointState,
    TouchpointWrites,
)

__all__ = [
    "MemoryTouchpointState",
    "Pending",
    "TouchpointChanges",
    "TouchpointFold",
    "TouchpointRow",
    "TouchpointState",
    "TouchpointWrites",
]
