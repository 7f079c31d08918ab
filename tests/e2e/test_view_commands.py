"""The view commands as a user runs them: timeline, errors, stock, project, rebuild (contract 5).

One small hand-written journey, with every expected value computed by hand from the contract.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import Journey, line, tp


def jsonl(*objs: dict[str, Any]) -> bytes:
    return b"".join(line(obj) + b"\n" for obj in objs)


def _part(type_: str, tp_id: str, at: str, qty: int, part_id: str = "P1",
          location: str = "WH1", **kw: Any) -> dict[str, Any]:
    return tp(f"part.{type_}", at=at, touchpoint_id=tp_id, part_id=part_id, location=location,
              qty=qty, **kw)


# Arrival order. Customer C1 unless said otherwise.
SCENARIO = [
    tp("purchase.placed", "2026-01-05T09:00:00Z", touchpoint_id="order-placed", order_id="O1",
       currency="EUR", lines=[{"sku": "S1", "qty": 1, "unit_price": "20.00"}]),
    # Same instant as the order, arrives after it: ties go by arrival, not by id.
    tp("invoice.issued", "2026-01-05T09:00:00Z", touchpoint_id="invoice-issued",
       invoice_id="I1", order_id="O1", amount="20.00", currency="EUR", due_date="2026-02-05"),
    tp("purchase.delivery_failed", "2026-01-07T10:00:00+02:00", touchpoint_id="delivery-failed",
       order_id="O1", reason="nobody home"),  # 08:00Z
    tp("purchase.delivered", "2026-01-09T12:00:00Z", touchpoint_id="delivered", order_id="O1"),
    # About O1, after its failed delivery: failure demand.
    tp("complaint.opened", "2026-01-08T00:00:00Z", touchpoint_id="k2-opened", case_id="K2",
       category="delivery", subject={"type": "order", "id": "O1"}),
    tp("repair.requested", "2026-01-10T08:00:00Z", touchpoint_id="r1-requested",
       repair_id="R1", serial="SN1", fault="no power", warranty=True),
    _part("received", "p1-received-2", "2026-01-10T09:00:00Z", 2),
    _part("reserved", "p1-reserved-3", "2026-01-11T09:00:00Z", 3, repair_id="R1"),  # stock-out
    _part("received", "p1-received-5", "2026-01-12T09:00:00Z", 5),
    _part("issued", "p1-issued-3", "2026-01-13T09:00:00Z", 3, repair_id="R1"),
    tp("invoice.corrected", "2026-02-02T09:00:00Z", touchpoint_id="invoice-corrected",
       invoice_id="I1", error_type="wrong_amount", amount_delta="-5.00"),
    # Same serial as R1; R1's fix arrives later (LATE below) and makes this a repeat.
    tp("repair.requested", "2026-02-05T08:00:00Z", touchpoint_id="r2-requested",
       repair_id="R2", serial="SN1", fault="no power again", warranty=True),
    tp("complaint.opened", "2026-02-06T08:00:00Z", touchpoint_id="k1-opened", case_id="K1",
       category="repair", subject={"type": "repair", "id": "R2"}),
    tp("complaint.opened", "2026-02-07T08:00:00Z", touchpoint_id="k3-opened", case_id="K3",
       customer_id="C2", category="service", demand="value", error="wrong_queue"),
    _part("transferred", "p1-transferred", "2026-02-08T09:00:00Z", 1, to_location="VAN1"),
    _part("reserved", "p1-reserved-1", "2026-02-09T09:00:00Z", 1, repair_id="R2"),
    _part("reserved", "p2-reserved-1", "2026-02-09T10:00:00Z", 1, part_id="P2",
          repair_id="R2"),  # stock-out
]
LATE = tp("repair.completed", "2026-01-14T08:00:00Z", touchpoint_id="r1-fixed", repair_id="R1",
          outcome="fixed")


def _entry(tp_id: str, type_: str, at: str, entity: str, error: str | None = None
           ) -> dict[str, Any]:
    return {"touchpoint_id": tp_id, "type": type_, "occurred_at": at, "entity": entity,
            "error": error}


EXPECTED_TIMELINE: dict[str, Any] = {
    "customer_id": "C1",
    "entries": [
        _entry("order-placed", "purchase.placed", "2026-01-05T09:00:00Z", "order:O1"),
        _entry("invoice-issued", "invoice.issued", "2026-01-05T09:00:00Z", "invoice:I1"),
        _entry("delivery-failed", "purchase.delivery_failed", "2026-01-07T08:00:00Z",
               "order:O1", "delivery_failed"),
        _entry("k2-opened", "complaint.opened", "2026-01-08T00:00:00Z", "case:K2"),
        _entry("delivered", "purchase.delivered", "2026-01-09T12:00:00Z", "order:O1"),
        _entry("r1-requested", "repair.requested", "2026-01-10T08:00:00Z", "repair:R1"),
        _entry("p1-reserved-3", "part.reserved", "2026-01-11T09:00:00Z", "part:P1@WH1",
               "stock_out"),
        _entry("p1-issued-3", "part.issued", "2026-01-13T09:00:00Z", "part:P1@WH1"),
        _entry("r1-fixed", "repair.completed", "2026-01-14T08:00:00Z", "repair:R1"),
        _entry("invoice-corrected", "invoice.corrected", "2026-02-02T09:00:00Z", "invoice:I1",
               "billing_wrong_amount"),
        _entry("r2-requested", "repair.requested", "2026-02-05T08:00:00Z", "repair:R2",
               "repeat_repair"),
        _entry("k1-opened", "complaint.opened", "2026-02-06T08:00:00Z", "case:K1"),
        _entry("p1-reserved-1", "part.reserved", "2026-02-09T09:00:00Z", "part:P1@WH1"),
        _entry("p2-reserved-1", "part.reserved", "2026-02-09T10:00:00Z", "part:P2@WH1",
               "stock_out"),
    ],
}


def _rate(kind: str, month: str, touchpoints: int, errors: int, rate: float
          ) -> dict[str, Any]:
    return {"kind": kind, "month": month, "touchpoints": touchpoints, "errors": errors,
            "error_rate": rate}


EXPECTED_ERRORS: dict[str, Any] = {
    "by_kind_month": [
        _rate("complaint", "2026-01", 1, 0, 0.0),  # k2
        _rate("complaint", "2026-02", 2, 1, 0.5),  # k1, k3 (upstream wrong_queue)
        _rate("invoice", "2026-01", 1, 0, 0.0),
        _rate("invoice", "2026-02", 1, 1, 1.0),  # billing_wrong_amount
        _rate("part", "2026-01", 4, 1, 0.25),  # received, reserved (stock-out), received, issued
        _rate("part", "2026-02", 3, 1, 0.3333),  # transfer (one), reserved, reserved (stock-out)
        _rate("purchase", "2026-01", 3, 1, 0.3333),  # placed, delivery_failed, delivered
        _rate("repair", "2026-01", 2, 0, 0.0),  # r1 requested, r1 fixed (late)
        _rate("repair", "2026-02", 1, 1, 1.0),  # r2: repeat_repair, 22 days after r1's fix
    ],
    "by_code": [
        {"code": "billing_wrong_amount", "count": 1},
        {"code": "delivery_failed", "count": 1},
        {"code": "repeat_repair", "count": 1},
        {"code": "stock_out", "count": 2},
        {"code": "wrong_queue", "count": 1},
    ],
    "failure_demand": [
        {"month": "2026-01", "contacts": 1, "failure": 1, "ratio": 1.0},  # k2: O1 failed first
        # k1: about R2, a repeat since the late fix; k3: value demand
        {"month": "2026-02", "contacts": 2, "failure": 1, "ratio": 0.5},
    ],
}

CONTRACT_STOCK_FIELDS = ("part_id", "location", "on_hand", "reserved", "available",
                         "backordered")
EXPECTED_STOCK = [
    # 2 + 5 - 3 issued - 1 transferred; 1 reserved for R2; R1's backorder of 3 met by the issue
    {"part_id": "P1", "location": "VAN1", "on_hand": 1, "reserved": 0, "available": 1,
     "backordered": 0},
    {"part_id": "P1", "location": "WH1", "on_hand": 3, "reserved": 1, "available": 2,
     "backordered": 0},
    {"part_id": "P2", "location": "WH1", "on_hand": 0, "reserved": 0, "available": 0,
     "backordered": 1},
]


class ContractJourney(Journey):
    """The documents of contract 5 exactly: the engine's ``freshness`` extension (checked in
    ``test_freshness.py``) taken off."""

    def json(self, *args: str, stdin: bytes | None = None) -> Any:
        return _contract(super().json(*args, stdin=stdin))


def _contract(document: Any) -> Any:
    if isinstance(document, dict):
        document.pop("freshness", None)
    return document


@pytest.fixture
def journey(tmp_path: Path) -> Journey:
    return ContractJourney(f"sqlite:///{tmp_path / 'journey.db'}", tmp_path)


@pytest.fixture
def ingested(journey: Journey, tmp_path: Path) -> Journey:
    """The scenario ingested from a file, then the late fix from standard input."""
    source = tmp_path / "scenario.jsonl"
    source.write_bytes(jsonl(*SCENARIO))
    first = journey.json("ingest", str(source))
    late = journey.json("ingest", "-", stdin=jsonl(LATE))
    assert (first["accepted"], first["rejected"]) == (len(SCENARIO), 0), first
    assert late["accepted"] == 1, late
    return journey


def _contract_stock(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: item[key] for key in CONTRACT_STOCK_FIELDS} for item in items]


def _views(journey: Journey) -> list[Any]:
    return [journey.json("timeline", "C1"), journey.json("timeline", "C2"),
            journey.json("errors"), journey.json("stock"), journey.json("kpis"),
            journey.json("invoices")]


# --- exact contract-5 documents ------------------------------------------------------------------


def test_timeline_json_is_every_touchpoint_of_the_customer_in_business_time(
    ingested: Journey,
) -> None:
    timeline = ingested.json("timeline", "C1")

    assert timeline == EXPECTED_TIMELINE


def test_timeline_of_another_customer_holds_only_their_touchpoints(ingested: Journey) -> None:
    timeline = ingested.json("timeline", "C2")

    assert timeline == {"customer_id": "C2", "entries": [
        _entry("k3-opened", "complaint.opened", "2026-02-07T08:00:00Z", "case:K3", "wrong_queue"),
    ]}


def test_a_customer_without_touchpoints_has_an_empty_timeline(ingested: Journey) -> None:
    timeline = ingested.json("timeline", "NOBODY")

    assert timeline == {"customer_id": "NOBODY", "entries": []}


def test_errors_json_is_exactly_the_contract_document(ingested: Journey) -> None:
    errors = ingested.json("errors")

    assert errors == EXPECTED_ERRORS


def test_stock_json_lists_every_pair_a_movement_touched_with_its_levels(
    ingested: Journey,
) -> None:
    stock = ingested.json("stock")

    assert list(stock) == ["items"]
    assert _contract_stock(stock["items"]) == EXPECTED_STOCK


def test_stock_json_adds_planning_figures_from_the_issues_of_the_trailing_window(
    ingested: Journey,
) -> None:
    # As of the last movement day (2026-02-09), 90 days back: 3 issued on one day of P1@WH1.
    # mean 3/90 = 1/30; variance 9/90 - 1/900 = 89/900; sigma 0.314466; L 7, z 1.644854:
    # reorder point 7/30 + 1.644854 * 0.314466 * sqrt(7) = 0.2333 + 1.3685 = 1.60;
    # days of supply 2 / (1/30) = 60.0.
    items = ingested.json("stock")["items"]

    planning = [{key: item[key] for key in
                 ("issued_90d", "days_of_supply", "reorder_point", "needs_reorder")}
                for item in items]
    assert planning == [
        {"issued_90d": 0, "days_of_supply": None, "reorder_point": 0.0, "needs_reorder": False},
        {"issued_90d": 3, "days_of_supply": 60.0, "reorder_point": 1.6, "needs_reorder": False},
        {"issued_90d": 0, "days_of_supply": None, "reorder_point": 0.0, "needs_reorder": True},
    ]


def test_a_late_fix_turns_a_stored_request_into_a_repeat_and_its_contact_into_failure_demand(
    journey: Journey,
) -> None:
    journey.run("ingest", "-", stdin=jsonl(*SCENARIO))
    before = journey.json("errors")

    journey.run("ingest", "-", stdin=jsonl(LATE))

    after = journey.json("errors")
    assert "repeat_repair" not in [row["code"] for row in before["by_code"]]
    assert before["failure_demand"][1] == {"month": "2026-02", "contacts": 2, "failure": 0,
                                           "ratio": 0.0}
    assert after == EXPECTED_ERRORS


# --- filters -------------------------------------------------------------------------------------


def test_errors_by_kind_keeps_only_that_kind_and_its_codes(ingested: Journey) -> None:
    errors = ingested.json("errors", "--kind", "part")

    assert errors["by_kind_month"] == [
        row for row in EXPECTED_ERRORS["by_kind_month"] if row["kind"] == "part"]
    assert errors["by_code"] == [{"code": "stock_out", "count": 2}]


def test_errors_between_months_keeps_only_those_months(ingested: Journey) -> None:
    errors = ingested.json("errors", "--from", "2026-02", "--to", "2026-02")

    assert errors == {
        "by_kind_month": [row for row in EXPECTED_ERRORS["by_kind_month"]
                          if row["month"] == "2026-02"],
        "by_code": [
            {"code": "billing_wrong_amount", "count": 1},
            {"code": "repeat_repair", "count": 1},
            {"code": "stock_out", "count": 1},
            {"code": "wrong_queue", "count": 1},
        ],
        "failure_demand": [{"month": "2026-02", "contacts": 2, "failure": 1, "ratio": 0.5}],
    }


def test_errors_up_to_a_month_keeps_the_months_before_it(ingested: Journey) -> None:
    errors = ingested.json("errors", "--to", "2026-01")

    assert {row["month"] for row in errors["by_kind_month"]} == {"2026-01"}
    assert errors["by_code"] == [{"code": "delivery_failed", "count": 1},
                                 {"code": "stock_out", "count": 1}]
    assert errors["failure_demand"] == [EXPECTED_ERRORS["failure_demand"][0]]


@pytest.mark.parametrize(("options", "pairs"), [
    (["--part", "P2"], [("P2", "WH1")]),
    (["--location", "VAN1"], [("P1", "VAN1")]),
    (["--location", "WH1"], [("P1", "WH1"), ("P2", "WH1")]),
    (["--part", "P1", "--location", "WH1"], [("P1", "WH1")]),
    (["--needs-reorder"], [("P2", "WH1")]),
    (["--part", "NONE"], []),
])
def test_stock_filters_narrow_the_items(ingested: Journey, options: list[str],
                                        pairs: list[tuple[str, str]]) -> None:
    items = ingested.json("stock", *options)["items"]

    assert pairs == [(item["part_id"], item["location"]) for item in items]
    assert _contract_stock(items) == [
        row for row in EXPECTED_STOCK if (row["part_id"], row["location"]) in pairs]


# --- other formats -------------------------------------------------------------------------------


def test_timeline_as_csv_is_a_header_and_one_row_per_entry(ingested: Journey) -> None:
    result = ingested.run("timeline", "C1", "--format", "csv")

    rows = list(csv.reader(io.StringIO(result.stdout.decode())))
    assert rows[0] == ["touchpoint_id", "type", "occurred_at", "entity", "error"]
    assert rows[1:] == [
        [e["touchpoint_id"], e["type"], e["occurred_at"], e["entity"], e["error"] or ""]
        for e in EXPECTED_TIMELINE["entries"]]


def test_stock_as_csv_is_a_header_and_one_row_per_item(ingested: Journey) -> None:
    result = ingested.run("stock", "--format", "csv")

    rows = list(csv.reader(io.StringIO(result.stdout.decode())))
    assert list(CONTRACT_STOCK_FIELDS) == rows[0][:len(CONTRACT_STOCK_FIELDS)]
    assert [row[:len(CONTRACT_STOCK_FIELDS)] for row in rows[1:]] == [
        [str(v) for v in item.values()] for item in EXPECTED_STOCK]


def test_errors_as_csv_prints_each_table_with_its_header(ingested: Journey) -> None:
    result = ingested.run("errors", "--format", "csv")

    lines = [row for row in csv.reader(io.StringIO(result.stdout.decode())) if row]
    headers = [row for row in lines if row[0] in ("kind", "code", "month")]
    purchases = next(row for row in lines if row[:2] == ["purchase", "2026-01"])
    assert headers == [["kind", "month", "touchpoints", "errors", "error_rate"],
                       ["code", "count"], ["month", "contacts", "failure", "ratio"]]
    assert purchases[:4] == ["purchase", "2026-01", "3", "1"]


def test_format_json_prints_the_same_document_as_the_json_flag(ingested: Journey) -> None:
    result = ingested.run("errors", "--format", "json")

    assert _contract(json.loads(result.stdout)) == EXPECTED_ERRORS


# --- project and rebuild -------------------------------------------------------------------------


def test_project_reports_no_lag_right_after_ingest(ingested: Journey) -> None:
    report = ingested.json("project")

    assert report == {"events": 0, "lag": {"service": 0, "stock": 0, "touchpoints": 0}}


def test_project_catches_up_what_ingest_left_for_later(journey: Journey) -> None:
    journey.run("ingest", "-", "--no-views", stdin=jsonl(*SCENARIO, LATE))

    report = journey.json("project")

    assert report["lag"] == {"service": 0, "stock": 0, "touchpoints": 0}
    assert report["events"] > 0
    assert journey.json("timeline", "C1") == EXPECTED_TIMELINE
    assert journey.json("errors") == EXPECTED_ERRORS


EMPTY_VIEWS = [{"customer_id": "C1", "entries": []},
               {"by_kind_month": [], "by_code": [], "failure_demand": []},
               {"items": []}]


def _queries(journey: Journey) -> list[Any]:
    return [journey.json("timeline", "C1"), journey.json("errors"), journey.json("stock")]


def test_queries_on_a_new_empty_store_give_empty_documents(journey: Journey) -> None:
    journey.run("project")  # a writer creates the store (a query alone would refuse)

    documents = _queries(journey)

    assert documents == EMPTY_VIEWS


def test_queries_after_an_ingest_that_accepted_nothing_give_empty_documents(
    journey: Journey,
) -> None:
    journey.run("ingest", "-", stdin=b'{"touchpoint_id": "x", "type": "nope"}\n')

    documents = _queries(journey)

    assert documents == EMPTY_VIEWS


def test_queries_before_project_show_the_views_as_they_were_not_an_error(
    journey: Journey,
) -> None:
    journey.run("ingest", "-", "--no-views", stdin=jsonl(*SCENARIO))

    documents = _queries(journey)

    assert documents == EMPTY_VIEWS


def test_rebuilding_every_view_gives_identical_documents(ingested: Journey) -> None:
    before = _views(ingested)

    report = ingested.json("rebuild")

    assert report["rebuilt"] == ["service", "stock", "touchpoints"]
    assert _views(ingested) == before
    assert ingested.json("project")["lag"] == {"service": 0, "stock": 0, "touchpoints": 0}


@pytest.mark.parametrize("view", ["timeline", "errors", "stock", "kpis", "invoices"])
def test_rebuilding_one_view_gives_identical_documents(ingested: Journey, view: str) -> None:
    before = _views(ingested)

    ingested.json("rebuild", view)

    assert _views(ingested) == before


def test_a_late_arrival_after_a_rebuild_still_reclassifies_what_was_rebuilt(
    journey: Journey,
) -> None:
    journey.run("ingest", "-", stdin=jsonl(*SCENARIO))
    journey.json("rebuild")

    journey.run("ingest", "-", stdin=jsonl(LATE))

    assert journey.json("timeline", "C1") == EXPECTED_TIMELINE
    assert journey.json("errors") == EXPECTED_ERRORS


def test_views_folded_one_event_per_batch_are_the_same_documents(journey: Journey) -> None:
    one_by_one = {"JOURNEY_VIEW_BATCH_SIZE": "1"}
    journey.run("ingest", "-", stdin=jsonl(*SCENARIO), env=one_by_one)
    journey.run("ingest", "-", stdin=jsonl(LATE), env=one_by_one)

    documents = [_contract(json.loads(journey.run(*args, "--json").stdout))
                 for args in (("timeline", "C1"), ("errors",), ("stock",))]

    assert documents[0] == EXPECTED_TIMELINE
    assert documents[1] == EXPECTED_ERRORS
    assert _contract_stock(documents[2]["items"]) == EXPECTED_STOCK


def test_a_rebuild_one_event_per_batch_gives_identical_documents(ingested: Journey) -> None:
    before = _views(ingested)

    ingested.run("rebuild", env={"JOURNEY_VIEW_BATCH_SIZE": "1"})

    assert _views(ingested) == before


def test_ingesting_the_same_file_again_counts_no_touchpoint_twice(ingested: Journey) -> None:
    before = _views(ingested)

    summary = ingested.json("ingest", "-", stdin=jsonl(*SCENARIO, LATE))

    assert (summary["accepted"], summary["duplicates"]) == (0, len(SCENARIO) + 1)
    assert _views(ingested) == before


def test_the_views_stay_current_after_a_rebuild(ingested: Journey) -> None:
    ingested.json("rebuild")
    more = tp("purchase.cancelled", "2026-02-10T00:00:00Z", touchpoint_id="o2-cancelled",
              order_id="O2", reason="changed mind")
    placed = tp("purchase.placed", "2026-02-10T00:00:00Z", touchpoint_id="o2-placed",
                order_id="O2", currency="EUR", lines=[{"sku": "S1", "qty": 1, "unit_price": 1}])

    ingested.run("ingest", "-", stdin=jsonl(placed, more))

    entries = ingested.json("timeline", "C1")["entries"]
    assert [e["touchpoint_id"] for e in entries[-2:]] == ["o2-placed", "o2-cancelled"]


def test_an_unknown_view_is_one_clear_error_line_and_a_non_zero_exit(ingested: Journey) -> None:
    result = ingested.run("rebuild", "nonsense", "--json", check=False)

    assert result.returncode != 0
    assert result.stdout == b""
    assert b"Traceback" not in result.stderr
    errors = [text for text in result.stderr.decode().splitlines() if "nonsense" in text]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("journey: error:")
