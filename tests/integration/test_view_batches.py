"""The views folded over their tables batch by batch equal the views folded in memory.

A catch-up reads what a batch's events name from the tables in a few bulk reads (``prepare``)
and writes a batch's rows set-based; a key the bulk read did not foresee is read when the fold
asks for it. Here a generated workload with many errors and late arrivals (so the same order,
invoice, stock pair or serial changes several times in one batch, is created and changed in
one batch, and changes again in later batches) is folded three ways into one store:

- in memory, from empty, written once (the rebuild's fold: the reference);
- over the tables, ``fold_and_write`` per batch, for several batch sizes (catch-up);
- over the tables with nothing read in bulk, every key read when asked (the per-key path).

Every view table must hold the same rows.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from journey.domain.decide import Decider
from journey.domain.errors import TouchpointRejected
from journey.infra.store import open_store
from journey.infra.views.database import ViewDb
from journey.infra.views.projector import Projector
from journey.infra.workload.journeys import generate
from journey.infra.workload.options import WorkloadOptions
from journey.projections.tables import PROJECTIONS, Tables
from journey.projections.views import (
    VIEWS,
    fold_and_write,
    fold_events,
    memory_folds,
    write_all,
)
from journey.schemas.parsing import Parsed, parse_line
from tests.support import Memory, case, invoice, order, part, repair, tp

Events = list[tuple[int, Any]]


def decided(lines: Iterable[str]) -> Events:
    """The events of touchpoints decided in memory, numbered like the log."""
    memory = Memory()
    events: Events = []
    accepted: set[str] = set()  # the ingest's idempotency: a repeated id is not decided again
    for text in lines:
        parsed = parse_line(text.encode())
        if not isinstance(parsed, Parsed) or parsed.touchpoint.touchpoint_id in accepted:
            continue
        try:
            changed = Decider(memory).decide(parsed.touchpoint)
        except TouchpointRejected:
            continue
        accepted.add(parsed.touchpoint.touchpoint_id)
        for aggregate in changed:
            memory.items[aggregate.id] = aggregate
            events.extend((len(events) + 1, event) for event in aggregate.collect_events())
    return events


def day(n: int, hour: int = 10) -> str:
    return f"2026-03-{n:02d}T{hour:02d}:00:00Z"


#: Late arrivals whose effects cross batches, keys changed twice in a batch or across batches.
SCENARIO = [
    repair("R1", serial="SN1", at=day(1)),
    case("K1", at=day(3), subject={"type": "repair", "id": "R1"}),
    repair("R2", serial="SN1", at=day(5), customer_id="C2"),
    repair("R3", serial="SN1", at=day(6), customer_id="C3", error="upstream_fault"),
    case("K2", at=day(7), customer_id="C2", subject={"type": "repair", "id": "R2"}),
    tp("repair.completed", at=day(2), repair_id="R1", outcome="fixed"),  # late: R2 a repeat
    part("received", qty=10, at=day(8)),
    part("reserved", qty=30, repair_id="R2", at=day(8, 11)),  # a stock-out on repair:R2
    part("reserved", qty=3, repair_id="R2", at=day(8, 12)),
    part("issued", qty=2, repair_id="R2", at=day(8, 13)),
    part("transferred", qty=1, to_location="WH2", at=day(8, 14)),
    order("O1", at=day(1)),
    case("K3", at=day(3), subject={"type": "order", "id": "O1"}),
    tp("purchase.delivery_failed", at=day(4), order_id="O1", reason="lost"),
    case("K4", at=day(4), subject={"type": "order", "id": "O1"}),  # the error's instant
    tp("complaint.resolved", at=day(9), case_id="K1", resolution="ok", satisfaction=4),
    invoice("I1", at=day(2)),
    tp("invoice.paid", at=day(3), invoice_id="I1", amount="5.00"),
    tp("invoice.corrected", at=day(4), invoice_id="I1", error_type="tax", amount_delta="-1.50"),
    tp("invoice.paid", at=day(5), invoice_id="I1", amount="13.48"),
    tp("invoice.reminder_sent", at=day(6), invoice_id="I1"),
    tp("repair.completed", at=day(9), repair_id="R2", outcome="not_fixed", customer_id="C2"),
    tp("repair.completed", at=day(10), repair_id="R2", outcome="fixed", customer_id="C2"),
    repair("R4", serial="SN1", at=day(11), customer_id="C4"),  # a repeat of R2 at once
]


@pytest.fixture(scope="module")
def events() -> Events:
    options = WorkloadOptions(customers=60, seed=7, error_rate=0.4, late_rate=0.3)
    return decided(generate(options))


@pytest.fixture(scope="module")
def scenario() -> Events:
    events = decided(json.dumps(obj) for obj in SCENARIO)
    ids = {getattr(event, "touchpoint_id", None) for _, event in events}
    assert ids - {None} == {obj["touchpoint_id"] for obj in SCENARIO}, "each one is accepted"
    return events


@pytest.fixture
def views(store_url: str) -> Iterator[ViewDb]:
    app = open_store(store_url)
    projector = Projector(app)
    for suffix in ("_ref", "_lazy"):
        projector.ensure_tables(suffix)
    yield projector.db
    app.close()


def rows(db: ViewDb, t: Tables) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with db.transaction() as (c, _):
        for tables in PROJECTIONS.values():
            for table in tables:
                c.execute(f"SELECT * FROM {getattr(t, table)}")
                found[table] = sorted((tuple(row) for row in c.fetchall()), key=repr)
    return found


def in_memory(db: ViewDb, events: Events) -> Tables:
    t = db.tables("_ref")
    folds = memory_folds()
    fold_events(events, folds)
    with db.transaction() as (c, _):
        write_all(db, c, t, {name: fold.writes() for name, fold in folds.items()})
    return t


def split(events: Events, sizes: list[int]) -> Iterator[Events]:
    start = 0
    for size in sizes:
        if start >= len(events):
            return
        yield events[start:start + size]
        start += size
    if start < len(events):
        yield events[start:]


def random_sizes(seed: int, count: int) -> list[int]:
    pick = random.Random(seed)
    return [pick.choice((1, 2, 3, 17, 40, 150)) for _ in range(count)]


@pytest.mark.parametrize("sizes", [[5], [64], [1000], random_sizes(1, 400)],
                         ids=["5", "64", "1000", "random"])
def test_a_catch_up_in_batches_gives_the_views_of_one_fold_in_memory(
        views: ViewDb, events: Events, sizes: list[int]) -> None:
    reference = rows(views, in_memory(views, events))
    t = views.tables()

    for batch in split(events, sizes * (len(events) // sum(sizes) + 1)):
        with views.transaction() as (c, _):
            fold_and_write(views, c, t, batch)

    assert rows(views, t) == reference


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
def test_late_arrivals_and_keys_changed_within_and_across_batches_fold_alike(
        views: ViewDb, scenario: Events, size: int) -> None:
    reference = rows(views, in_memory(views, scenario))
    t = views.tables()

    for batch in split(scenario, [size] * len(scenario)):
        with views.transaction() as (c, _):
            fold_and_write(views, c, t, batch)

    assert rows(views, t) == reference


def test_bulk_reads_give_what_reading_each_key_when_asked_gives(
        views: ViewDb, events: Events) -> None:
    t, lazy = views.tables(), views.tables("_lazy")

    for batch in split(events, random_sizes(2, len(events))):
        with views.transaction() as (c, _):
            fold_and_write(views, c, t, batch)
            folds = {name: view.sql_fold(views, c, lazy, []) for name, view in VIEWS.items()}
            fold_events(batch, folds)
            write_all(views, c, lazy, {name: fold.writes() for name, fold in folds.items()})

    assert rows(views, t) == rows(views, lazy)
