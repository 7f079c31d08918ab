"""The views together: each projection's DDL, fold and writes, and one fold-and-write for
a batch of events.

A projection (``VIEWS``, named as in ``projections.tables.PROJECTIONS``) folds events with a
``Fold``: ``apply(seq, event)`` in log order, then ``writes()``, the batch's changes as plain
rows (picklable: a rebuild folds in a worker process), which ``write`` puts in the tables.
Its fold comes in two kinds: over the tables (``sql_fold``, catch-up and the Kafka view
worker: what it needs is read from the tables in the caller's transaction) or over state in
memory (``memory_fold``, rebuilds and answers replayed from the log, which start empty and
go on across batches). A new projection is one more entry in ``VIEWS``.

``fold_and_write`` is the one place where events become view rows: the projector's
catch-up (events from the log) and the Kafka view worker (events from the topics) both
call it inside their own transaction, which also records their position; so a batch is
in the views together with its position, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from journey.domain.stock import PartStock
from journey.projections.service import MemoryServiceState, ServiceFold
from journey.projections.service.table import SqlServiceState, write_service
from journey.projections.service.table import statements as service_statements
from journey.projections.stock.fold import Pair, StockFold
from journey.projections.stock.table import (
    WINDOW_SUM_COLUMNS,
    add_window_sums,
    load_stock,
    write_stock,
)
from journey.projections.stock.table import statements as stock_statements
from journey.projections.tables import PROJECTIONS, Dialect, Tables
from journey.projections.touchpoints.fold import (
    MemoryTouchpointState,
    TouchpointChanges,
    TouchpointFold,
)
from journey.projections.touchpoints.table import SqlTouchpointState, write_touchpoints
from journey.projections.touchpoints.table import statements as touchpoint_statements

#: (log position, decoded event)
Events = Sequence[tuple[int, Any]]


class Fold(Protocol):
    """Folds events in log order; ``writes()`` hands over what changed since the last call."""

    def apply(self, seq: int, event: Any) -> None: ...

    def writes(self) -> Any: ...


@dataclass(frozen=True)
class Upgrade:
    """Columns a view's table gained after it was first released, and how to add them to a
    table made before (``add`` also fills them)."""

    table: str
    columns: tuple[str, ...]
    add: Callable[[Dialect, Any, Tables], None]


@dataclass(frozen=True)
class Projection:
    """One projection: its DDL, its folds, its writes, its upgrades."""

    statements: Callable[[Tables, str], list[str]]
    #: A fold for one batch over the tables (the batch's events given first: it may load
    #: what they name in bulk).
    sql_fold: Callable[[Dialect, Any, Tables, Events], Fold]
    #: A fold over state in memory, starting empty, for any number of batches.
    memory_fold: Callable[[], Fold]
    write: Callable[[Dialect, Any, Tables, Any], None]
    upgrades: tuple[Upgrade, ...] = ()


class _Touchpoints:
    def __init__(self, state: MemoryTouchpointState) -> None:
        self.fold = TouchpointFold(state)

    def apply(self, seq: int, event: Any) -> None:
        self.fold.apply(event, seq)

    def writes(self) -> Any:
        written = self.fold.changes.writes()
        self.fold.changes = TouchpointChanges()
        return written


class _Stock:
    def __init__(self, load: Callable[[Pair], PartStock | None],
                 kept: dict[Pair, PartStock] | None = None) -> None:
        self.fold = StockFold(load)
        self.kept = kept  # in memory: every pair's state, across batches

    def apply(self, seq: int, event: Any) -> None:
        self.fold.apply(event)

    def writes(self) -> Any:
        written = self.fold.changes.writes()
        if self.kept is not None:
            self.kept.update(self.fold.changes.stocks)
        self.fold = StockFold(self.fold.load)
        return written


def _stock_in_memory() -> Fold:
    kept: dict[Pair, PartStock] = {}
    return _Stock(kept.get, kept)


def _touchpoints_over(db: Dialect, c: Any, t: Tables, events: Events) -> Fold:
    state = SqlTouchpointState(db, c, t)
    state.prepare(events)
    return _Touchpoints(state)


def _service_over(db: Dialect, c: Any, t: Tables, events: Events) -> Fold:
    fold = ServiceFold(SqlServiceState(db, c, t))
    fold.prepare(events)
    return fold


VIEWS: dict[str, Projection] = {
    "touchpoints": Projection(
        touchpoint_statements,
        _touchpoints_over,
        lambda: _Touchpoints(MemoryTouchpointState()),
        write_touchpoints),
    "stock": Projection(
        stock_statements,
        lambda db, c, t, events: _Stock(load_stock(db, c, t, events)),
        _stock_in_memory,
        write_stock,
        (Upgrade("view_stock", WINDOW_SUM_COLUMNS, add_window_sums),)),
    "service": Projection(
        service_statements,
        _service_over,
        lambda: ServiceFold(MemoryServiceState()),
        write_service),
}
assert set(VIEWS) == set(PROJECTIONS), "every projection has its tables and its fold"

#: Per projection, its upgrades in order (the projector applies the missing ones).
UPGRADES: dict[str, tuple[Upgrade, ...]] = {name: view.upgrades for name, view in VIEWS.items()}


def create_statements(t: Tables, uid: str) -> dict[str, list[str]]:
    """DDL per projection; ``uid`` keeps index names unique across generations, so run it
    once per generation of tables (index names outlive the renames of a rebuild)."""
    return {name: view.statements(t, uid) for name, view in VIEWS.items()}


def memory_folds(names: Iterable[str] = PROJECTIONS) -> dict[str, Fold]:
    """Folds over state in memory for the projections ``names`` (a rebuild, an answer
    replayed from the log)."""
    return {name: VIEWS[name].memory_fold() for name in names}


def fold_events(events: Iterable[tuple[int, Any]], folds: Mapping[str, Fold],
                after: Mapping[str, int] | None = None) -> None:
    """Fold ``(seq, event)`` pairs, in log order, into the folds given (by projection
    name); a fold skips the events at or below its position in ``after``. ``seq`` (the
    log position) orders a customer's timeline on ties."""
    after = after or {}
    applies = [(fold.apply, after.get(name, 0)) for name, fold in folds.items()]
    for seq, event in events:
        for apply, position in applies:
            if seq > position:
                apply(seq, event)


def write_all(db: Dialect, c: Any, t: Tables, written: Mapping[str, Any]) -> None:
    """Write each projection's batch (``writes()`` of its fold) into the tables ``t``."""
    for name, rows in written.items():
        VIEWS[name].write(db, c, t, rows)


def fold_and_write(db: Dialect, c: Any, t: Tables, events: Iterable[tuple[int, Any]],
                   after: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Fold ``(seq, event)`` pairs into every view in the transaction of cursor ``c``.

    What the folds need to know beyond the events is read from the tables ``t`` (see
    ``fold_events`` for ``after``). Returns each projection's writes (the caller may need
    what they learned, e.g. the touchpoint view's repairs).
    """
    batch = list(events)
    after = after or {}
    folds: dict[str, Fold] = {}
    for name, view in VIEWS.items():
        position = after.get(name, 0)
        pending = batch if not batch or batch[0][0] > position else [
            pair for pair in batch if pair[0] > position]
        folds[name] = view.sql_fold(db, c, t, pending)
    fold_events(batch, folds, after)
    written = {name: fold.writes() for name, fold in folds.items()}
    write_all(db, c, t, written)
    return written
