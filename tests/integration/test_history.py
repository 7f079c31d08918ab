"""Auditors' questions answered from the log: history, as-of (business time), known-at
(record time), and replay equivalence of the views."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from journey.infra.audit.history import TimeFilter, audit_replay, history, views_as_of
from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, StoreError, open_store
from journey.infra.views.projector import Projector, view_queries
from tests.support import behind_the_engines_back, line, order, part, repair, tp


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    yield application
    application.close()


def ingest(app: JourneyApplication, *objs: dict[str, object]) -> None:
    Ingestor(app).ingest([line(o) for o in objs])
    Projector(app).catch_up()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_history_lists_each_event_with_position_times_touchpoint_and_state_after(
    app: JourneyApplication,
) -> None:
    ingest(app, order("O1", touchpoint_id="p", at="2026-01-01T10:00:00+02:00"),
           tp("purchase.delivery_failed", order_id="O1", reason="away", touchpoint_id="f",
              at="2026-01-02T10:00:00Z"),
           tp("purchase.delivered", order_id="O1", touchpoint_id="d", at="2026-01-03T10:00:00Z"))

    events = history(app, "order:O1", TimeFilter())["events"]

    assert [e["touchpoint_id"] for e in events] == ["p", "f", "d"]
    assert [e["state"]["status"] for e in events] == ["placed", "delivery_failed", "delivered"]
    assert events[0]["occurred_at"] == "2026-01-01T08:00:00Z"
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert all(e["recorded_at"].endswith("Z") for e in events)


def test_a_customers_history_includes_part_movements_naming_its_repairs_only(
    app: JourneyApplication,
) -> None:
    ingest(app, repair("R1"), repair("R2", customer_id="C2"), part("received", 5),
           part("reserved", 1, repair_id="R1", touchpoint_id="mine"),
           part("reserved", 1, repair_id="R2", touchpoint_id="theirs"))

    events = history(app, "customer:C1", TimeFilter())["events"]

    assert [e["type"] for e in events] == ["repair.requested", "part.reserved"]
    assert events[1]["touchpoint_id"] == "mine"
    assert events[1]["state"]["available"] == 4  # the stock after it, all repairs counted


def test_a_part_history_shows_stock_after_each_movement(app: JourneyApplication) -> None:
    ingest(app, repair("R1"), part("received", 3), part("reserved", 5, repair_id="R1"))

    events = history(app, "part:P1@WH1", TimeFilter())["events"]

    assert [(e["event"], e["state"]["on_hand"], e["state"]["backordered"]) for e in events] == [
        ("PartStock.Registered", 0, 0), ("PartStock.Received", 3, 0),
        ("PartStock.Backordered", 3, 5)]


def test_business_time_and_record_time_give_different_answers_after_a_late_arrival(
    app: JourneyApplication,
) -> None:
    # R1 is fixed on Jan 5, R2 (same serial) requested on Jan 20: a repeat repair. The
    # fix arrives late, after the request was recorded.
    ingest(app, repair("R1", serial="SN", at="2026-01-01T09:00:00Z"),
           repair("R2", serial="SN", at="2026-01-20T09:00:00Z", touchpoint_id="r2"))
    time.sleep(0.05)
    before_the_late_fix = datetime.now(UTC)
    time.sleep(0.05)
    ingest(app, tp("repair.completed", repair_id="R1", outcome="fixed",
                   at="2026-01-05T09:00:00Z"))

    def r2_code(window: TimeFilter) -> str | None:
        with views_as_of(app, window) as views:
            entries = views.timeline("C1")["entries"]
        return next((e["error"] for e in entries if e["touchpoint_id"] == "r2"), "absent")

    assert r2_code(TimeFilter()) == "repeat_repair"  # everything, as now
    assert r2_code(TimeFilter(as_of=at("2026-01-25T00:00:00Z"))) == "repeat_repair"
    assert r2_code(TimeFilter(as_of=at("2026-01-10T00:00:00Z"))) == "absent"
    assert r2_code(TimeFilter(known_at=before_the_late_fix)) is None  # not known yet
    assert r2_code(TimeFilter(as_of=at("2026-01-25T00:00:00Z"),
                              known_at=before_the_late_fix)) is None


def test_views_replayed_without_a_window_equal_the_live_views(app: JourneyApplication) -> None:
    ingest(app, order("O1"), tp("purchase.delivery_failed", order_id="O1", reason="x"),
           repair("R1"), part("received", 2), part("reserved", 3, repair_id="R1"),
           part("issued", 1, repair_id="R1"))

    with views_as_of(app, TimeFilter()) as replayed:
        expected = (replayed.errors(), replayed.stock(), replayed.timeline("C1"))
    with view_queries(app) as live:
        assert (live.errors(), live.stock(), live.timeline("C1")) == expected


def test_stock_as_of_a_moment_counts_only_movements_by_then(app: JourneyApplication) -> None:
    ingest(app, part("received", 5, at="2026-01-01T00:00:00Z"),
           part("adjusted", -2, reason="count", at="2026-02-01T00:00:00Z"))

    with views_as_of(app, TimeFilter(as_of=at("2026-01-15T00:00:00Z"))) as views:
        (item,) = views.stock()["items"]

    assert (item["on_hand"], item["available"]) == (5, 5)


def test_audit_replay_is_clean_on_an_untouched_store_and_reports_drift_row_by_row(
    app: JourneyApplication,
) -> None:
    ingest(app, order("O1"), tp("purchase.delivery_failed", order_id="O1", reason="x"),
           part("received", 2))
    assert audit_replay(app)["ok"] is True

    table = Projector(app).db.tables().view_error_rates
    with behind_the_engines_back(app) as c:
        c.execute(f"UPDATE {table} SET errors = errors + 7 WHERE kind = 'purchase'")
    report = audit_replay(app)

    assert report["ok"] is False
    drift = report["tables"]["view_error_rates"]
    assert drift["only_in_live"] == [["purchase", "2026-03", 2, 8]]
    assert drift["only_in_replay"] == [["purchase", "2026-03", 2, 1]]
    assert report["tables"]["view_touchpoints"]["ok"] is True


def test_an_unknown_entity_reference_is_a_clear_error(app: JourneyApplication) -> None:
    with pytest.raises(StoreError, match="unknown entity"):
        history(app, "planet:X", TimeFilter())


def _index_count(app: JourneyApplication) -> int:
    db = Projector(app).db
    with app.journey_recorder.read_rows() as c:
        if db.postgres:
            c.execute("SELECT COUNT(*) FROM pg_indexes WHERE schemaname = %s "
                      "AND tablename LIKE 'view_%%'", (app.env["POSTGRES_SCHEMA"],))
        else:
            c.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                      "AND tbl_name LIKE 'view_%'")
        return int(c.fetchone()[0])


def test_opening_the_views_again_or_rebuilding_adds_no_duplicate_indexes(
    app: JourneyApplication,
) -> None:
    ingest(app, order("O1"))
    first = _index_count(app)
    ingest(app, order("O2"))
    Projector(app)
    Projector(app).rebuild(["stock", "touchpoints"])
    Projector(app).rebuild(["touchpoints"])

    assert _index_count(app) == first
