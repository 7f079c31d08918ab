"""What auditors ask of the log itself (never of the live views).

``history``       every stored event of an entity or a customer, with its log position,
                  record time, business time, touchpoint and the entity's state after it
``views_as_of``   every view (timeline, errors, stock, kpis, invoices) as it was, replayed
                  from the log:
                  ``as_of`` keeps touchpoints that occurred by then (business time),
                  ``known_at`` keeps what the engine had stored by then (record time)
``audit_replay``  rebuild every view into scratch tables and compare with the live ones

``TimeFilter`` (the window of ``as_of`` and ``known_at``) is in ``window``, re-exported here.

Record time is an event's ``timestamp``: taken when the engine decided the touchpoint,
milliseconds before the batch's transaction committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from journey.domain.base import entity_id
from journey.domain.stock import PartStock
from journey.infra.audit.window import TimeFilter as TimeFilter  # its importers' old home
from journey.infra.store import JourneyApplication, LogEntry, StoreError
from journey.infra.views.decoder import ViewDecoder
from journey.infra.views.projector import Projector
from journey.projections.classify import contract_type
from journey.projections.moments import iso_z
from journey.projections.queries import ViewQueries
from journey.projections.tables import PROJECTIONS, Tables
from journey.projections.views import create_statements, fold_events, memory_folds, write_all

ENTITY_KINDS = ("order", "invoice", "case", "repair")
CHUNK = 10_000


def scan_log(app: JourneyApplication, decode: Callable[[LogEntry], Any] | None = None
             ) -> Iterator[tuple[LogEntry, Any]]:
    """Every stored event in log order, streamed in chunks."""
    decode = decode or ViewDecoder(app)
    for batch in app.journey_recorder.read_log_batches(0, CHUNK):
        for entry in batch:
            yield entry, decode(entry)


# --- history -------------------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str]:
    kind, _, key = ref.partition(":")
    if kind not in (*ENTITY_KINDS, "part", "customer") or not key:
        raise StoreError(f"unknown entity {ref!r}: use customer:C1, order:O1, invoice:I1, "
                         "case:K1, repair:R1 or part:P1@WH1")
    if kind == "part" and "@" not in key:
        raise StoreError(f"a part is named part:PART@LOCATION, not {ref!r}")
    return kind, key


def history(app: JourneyApplication, ref: str, window: TimeFilter) -> dict[str, Any]:
    """Every stored event of ``ref`` in log order, with the entity's state after each."""
    kind, key = parse_ref(ref)
    if kind == "customer":
        aggregates, shown = _customer_scope(app, key)
    elif kind == "part":
        part_id, location = key.rsplit("@", 1)
        aggregates, shown = {PartStock.id_for(part_id, location)}, None
    else:
        aggregates, shown = {entity_id(kind, key)}, None
    entries = []
    for aggregate_id in aggregates:
        entries.extend(_replay(app, aggregate_id, window, shown))
    entries.sort(key=lambda entry: entry["position"])
    return {"entity": ref, **window.as_json(), "events": entries}


def _customer_scope(app: JourneyApplication, customer: str
                    ) -> tuple[set[UUID], Callable[[Any], bool]]:
    """The customer's aggregates, and which of the stock events name the customer's repairs."""
    aggregates: set[UUID] = set()
    repairs: set[str] = set()
    for entry, event in scan_log(app):
        if getattr(event, "customer_id", None) == customer:
            aggregates.add(_uuid(entry.originator_id))
            if contract_type(event) == "repair.requested":
                repairs.add(event.repair_id)
        elif getattr(event, "repair_id", None) in repairs and isinstance(event, PartStock.Movement):
            aggregates.add(_uuid(entry.originator_id))

    def shown(event: Any) -> bool:
        if not isinstance(event, PartStock.Event):
            return True
        return getattr(event, "repair_id", None) in repairs
    return aggregates, shown


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _replay(app: JourneyApplication, aggregate_id: UUID, window: TimeFilter,
            shown: Callable[[Any], bool] | None) -> list[dict[str, Any]]:
    rows = app.journey_recorder.aggregate_log(aggregate_id)
    aggregate: Any = None
    entries = []
    for row in rows:
        event: Any = app.mapper.to_domain_event(row.notification())
        if not window.keeps(event):
            continue
        if aggregate is None:
            if not hasattr(event, "originator_topic"):
                continue  # its creation is outside the window: it did not exist yet
            aggregate = event.mutate(None)
        else:
            event.apply(aggregate)  # not mutate(): a window may skip versions
        if shown is None or shown(event):
            entries.append(_entry(row.id, event, aggregate))
    return entries


def _entry(position: int, event: Any, aggregate: Any) -> dict[str, Any]:
    occurred = getattr(event, "occurred_at", None)
    return {
        "position": position,
        "recorded_at": iso_z(event.timestamp),
        "occurred_at": occurred and iso_z(occurred),
        "touchpoint_id": getattr(event, "touchpoint_id", None),
        "type": contract_type(event),
        "event": type(event).__qualname__,
        "state": _state(aggregate),
    }


def _state(aggregate: Any) -> dict[str, Any]:
    state = {k: _plain(v) for k, v in vars(aggregate).items() if not k.startswith("_")}
    if isinstance(aggregate, PartStock):
        state.update(reserved=aggregate.reserved, available=aggregate.available,
                     backordered=aggregate.backordered)
    return state


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- the views as they were ----------------------------------------------------------------------


class _Scratch:
    """An in-memory database with the view tables, for answers replayed from the log."""

    sql = staticmethod(lambda statement: statement)


@contextmanager
def views_as_of(app: JourneyApplication, window: TimeFilter) -> Iterator[ViewQueries]:
    """Typed view queries over the log replayed through the folds, filtered by ``window``."""
    connection = sqlite3.connect(":memory:")
    try:
        c = connection.cursor()
        t = Tables()
        for statements in create_statements(t, "scratch").values():
            for statement in statements:
                c.execute(statement)
        folds = memory_folds()
        fold_events(((entry.id, event) for entry, event in scan_log(app)
                     if window.keeps(event)), folds)
        write_all(_Scratch(), c, t, {name: fold.writes() for name, fold in folds.items()})
        yield ViewQueries(c, _Scratch.sql, t)
    finally:
        connection.close()


# --- replay equivalence --------------------------------------------------------------------------


def audit_replay(app: JourneyApplication, limit: int = 20) -> dict[str, Any]:
    """Rebuild every view into scratch tables from the log and compare with the live ones."""
    projector = Projector(app)
    projector.catch_up()
    names = sorted(PROJECTIONS)
    report: dict[str, Any] = {"ok": True, "events": 0, "tables": {}}

    def compare() -> None:  # under the rebuild's lease: nobody sweeps the scratch tables
        projector.catch_up()  # the live views, up to where the scratch ones got
        db = projector.db
        live, scratch = db.tables(), db.tables("_audit")
        with db.transaction() as (c, _):
            for name in names:
                for table in PROJECTIONS[name]:
                    only_live = _rows(c, f"SELECT * FROM {getattr(live, table)} EXCEPT "
                                         f"SELECT * FROM {getattr(scratch, table)}")
                    only_replay = _rows(c, f"SELECT * FROM {getattr(scratch, table)} EXCEPT "
                                           f"SELECT * FROM {getattr(live, table)}")
                    drift = bool(only_live or only_replay)
                    report["ok"] = report["ok"] and not drift
                    report["tables"][table] = {
                        "ok": not drift,
                        "only_in_live": [list(r) for r in only_live[:limit]],
                        "only_in_replay": [list(r) for r in only_replay[:limit]],
                    }
                for table in PROJECTIONS[name]:
                    c.execute(f"DROP TABLE IF EXISTS {getattr(scratch, table)}")
                c.execute(db.sql(f"DELETE FROM {db.tracking_table} WHERE application_name = ?"),
                          (f"view:{name}_audit",))

    report["events"] = projector.rebuild(names, suffix="_audit", swap=False, then=compare)
    return report


def _rows(c: Any, statement: str) -> list[Any]:
    c.execute(statement)
    return [tuple(row) for row in c.fetchall()]
