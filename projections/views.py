"""The views together: their DDL, and one fold-and-write for a batch of events.

``fold_and_write`` is the one place where events become view rows: the projector's
catch-up (events from the log) and the Kafka view worker (events from the topics) both
call it inside their own transaction, which also records their position; so a batch is
in the views together with its position, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from journey.projections.stock.fold import StockFold
from journey.projections.stock.table import (
    WINDOW_SUM_COLUMNS,
    add_window_sums,
    load_stock,
    write_stock,
)
from journey.projections.stock.table import statements as stock_statements
from journey.projections.tables import Dialect, Tables
from journey.projections.touchpoints.fold import TouchpointFold, TouchpointWrites
from journey.projections.touchpoints.table import SqlTouchpointState, write_touchpoints
from journey.projections.touchpoints.table import statements as touchpoint_statements


@dataclass(frozen=True)
class Upgrade:
    """Columns a view's table gained after it was first released, and how to add them to a
    table made before (``add`` also fills them)."""

    table: str
    columns: tuple[str, ...]
    add: Callable[[Dialect, Any, Tables], None]


#: Per projection, its upgrades in order (the projector applies the missing ones).
UPGRADES: dict[str, tuple[Upgrade, ...]] = {
    "touchpoints": (),
    "stock": (Upgrade("view_stock", WINDOW_SUM_COLUMNS, add_window_sums),),
}


def create_statements(t: Tables, uid: str) -> dict[str, list[str]]:
    """DDL per projection; ``uid`` keeps index names unique across generations, so run it
    once per generation of tables (index names outlive the renames of a rebuild)."""
    return {"touchpoints": touchpoint_statements(t, uid), "stock": stock_statements(t, uid)}


def fold_events(events: Iterable[tuple[int, Any]], touchpoints: TouchpointFold | None,
                stock: StockFold | None, after: Mapping[str, int] | None = None) -> None:
    """Fold ``(seq, event)`` pairs, in log order, into the folds given (``None``: that view
    is not being built); a fold skips the events at or below its position in ``after``.
    ``seq`` (the log position) orders a customer's timeline on ties."""
    after = after or {}
    touchpoints_after, stock_after = after.get("touchpoints", 0), after.get("stock", 0)
    for seq, event in events:
        if touchpoints is not None and seq > touchpoints_after:
            touchpoints.apply(event, seq)
        if stock is not None and seq > stock_after:
            stock.apply(event)


def fold_and_write(db: Dialect, c: Any, t: Tables, events: Iterable[tuple[int, Any]],
                   after: Mapping[str, int] | None = None) -> TouchpointWrites:
    """Fold ``(seq, event)`` pairs into both views in the transaction of cursor ``c``.

    What the folds need to know beyond the events is read from the tables ``t`` (see
    ``fold_events`` for ``after``). Returns the touchpoint view's writes (the caller may
    need the repairs it learned).
    """
    touchpoints = TouchpointFold(SqlTouchpointState(db, c, t))
    stock = StockFold(load_stock(db, c, t))
    fold_events(events, touchpoints, stock, after)
    written = touchpoints.changes.writes()
    write_touchpoints(db, c, t, written)
    write_stock(db, c, t, stock.changes.writes())
    return written
