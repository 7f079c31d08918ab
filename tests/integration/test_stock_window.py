"""The stock view's stored window sums, and the rebuild's worker process, on both stores.

``view_stock`` keeps, per pair, the issued quantity and the sum of squared daily issues
over the stored planning window, so listing every pair reads one table. Whatever the
arrival order, batch sizes or path (catch-up, rebuild in a worker or here, a migration of
tables made before the sums), the listing must equal the planning figures computed from
the daily issues themselves.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, open_store
from journey.infra.views.database import ViewDb
from journey.infra.views.projector import Projector, view_queries
from journey.infra.workload import WorkloadOptions, write_workload
from journey.projections.stock import Planning
from journey.projections.tables import PROJECTIONS
from tests.support import line, part, repair


def workload(customers: int, seed: int, late_rate: float) -> list[bytes]:
    out = io.StringIO()
    write_workload(WorkloadOptions(customers=customers, seed=seed, late_rate=late_rate), out)
    return [line.encode() for line in out.getvalue().splitlines()]


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    """A store fed in four ingests of small batches, the views caught up after each."""
    application = open_store(store_url)
    lines = workload(customers=150, seed=11, late_rate=0.25)
    projector = Projector(application, batch_size=97)
    quarter = len(lines) // 4 + 1
    for start in range(0, len(lines), quarter):
        Ingestor(application, batch_size=300).ingest(lines[start:start + quarter])
        projector.catch_up()
    yield application
    application.close()


def figures_from_daily_issues(app: JourneyApplication, planning: Planning
                              ) -> list[dict[str, Any]]:
    """The listing as Planning.figures gives it from each pair's daily issue rows."""
    db = ViewDb(app)
    t = db.tables()
    with app.journey_recorder.read_rows() as c:
        c.execute(f"SELECT value FROM {t.view_stock_meta} WHERE key = 'as_of_day'")
        as_of = c.fetchone()[0]
        first = planning.window_start(date.fromisoformat(as_of)).isoformat()
        c.execute(db.sql(f"SELECT part_id, location, qty FROM {t.view_stock_issues} "
                         "WHERE day >= ? AND day <= ?"), (first, as_of))
        daily: dict[tuple[str, str], list[int]] = {}
        for part_id, location, qty in c.fetchall():
            daily.setdefault((part_id, location), []).append(int(qty))
        c.execute(f"SELECT part_id, location, on_hand, reserved, backordered FROM {t.view_stock} "
                  "ORDER BY part_id, location")
        rows = c.fetchall()
    return [{"part_id": p, "location": loc, "on_hand": on_hand, "reserved": reserved,
             "available": on_hand - reserved, "backordered": backordered,
             **planning.figures(daily.get((p, loc), []), on_hand - reserved, backordered)}
            for p, loc, on_hand, reserved, backordered in rows]


def listing(app: JourneyApplication, planning: Planning | None = None) -> list[dict[str, Any]]:
    with view_queries(app) as views:
        return list(views.stock(planning=planning)["items"])


def every_view_table(app: JourneyApplication) -> dict[str, list[tuple[Any, ...]]]:
    db = ViewDb(app)
    with app.journey_recorder.read_rows() as c:
        out = {}
        for tables in PROJECTIONS.values():
            for table in tables:
                c.execute(f"SELECT * FROM {getattr(db.tables(), table)}")
                out[table] = sorted(tuple(row) for row in c.fetchall())
        return out


def test_the_stored_window_sums_give_the_figures_of_the_daily_issues(
        app: JourneyApplication) -> None:
    stored = listing(app)

    assert stored == figures_from_daily_issues(app, Planning())
    assert sum(item["issued_90d"] for item in stored) > 0  # the window holds issues
    assert any(item["issued_90d"] == 0 for item in stored)  # and pairs without any


def test_a_late_issue_inside_the_window_counts_where_the_window_stays(
        store_url: str) -> None:
    app = open_store(store_url)
    projector = Projector(app)
    ingest = Ingestor(app).ingest
    ingest([line(part("received", 100, at="2026-03-01T08:00:00Z")),
            line(repair("R1", at="2026-03-01T09:00:00Z")),
            line(part("issued", 5, repair_id="R1", at="2026-03-20T10:00:00Z"))])
    projector.catch_up()
    ingest([line(part("issued", 3, repair_id="R1", at="2026-03-12T10:00:00Z")),  # late
            line(part("issued", 4, repair_id="R1", at="2025-11-01T10:00:00Z"))])  # before it
    projector.catch_up()

    (item,) = listing(app)
    app.close()

    assert (item["on_hand"], item["issued_90d"]) == (88, 8)
    # 5 and 3 on two of the 90 days: sigma**2 = (90 * (25 + 9) - 8**2) / 90**2
    assert item["reorder_point"] == round(
        8 / 90 * 7 + Planning().z * (2996 / 8100 * 7) ** 0.5, 2) == 3.27


def test_another_window_is_computed_from_the_daily_issues(app: JourneyApplication) -> None:
    planning = Planning(window_days=30, lead_time_days=3, service_level=0.9)

    assert listing(app, planning) == figures_from_daily_issues(app, planning)
    assert listing(app, planning) != listing(app)


@pytest.mark.parametrize("worker_min_events", [0, 10**9], ids=["worker", "here"])
def test_a_rebuild_in_a_worker_or_here_equals_the_incremental_views(
        app: JourneyApplication, worker_min_events: int) -> None:
    incremental = every_view_table(app)

    done = Projector(app, batch_size=500, worker_min_events=worker_min_events).rebuild(
        sorted(PROJECTIONS))

    assert done == app.journey_recorder.position()
    assert every_view_table(app) == incremental


def test_stock_tables_without_window_sums_get_them_on_first_use(
        app: JourneyApplication) -> None:
    before = listing(app)
    db = ViewDb(app)
    with db.transaction() as (c, _):
        for column in ("window_qty", "window_squares"):
            c.execute(f"ALTER TABLE {db.tables().view_stock} DROP COLUMN {column}")

    assert listing(app) == before  # a query adds them back, computed from the issues
