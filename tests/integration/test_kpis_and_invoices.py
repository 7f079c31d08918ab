"""The service view on both stores (contract 4.6-4.8): figures computed by hand, a late error
followed without a rebuild, a rebuild and an audit replay equal to the live tables, and a
store made before the view had it getting it on its next catch-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from journey.infra.audit.history import TimeFilter, audit_replay, views_as_of
from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, open_store
from journey.infra.views.projector import Projector, view_queries
from journey.infra.views.swap import TRACKING_PREFIX
from journey.projections.tables import PROJECTIONS
from tests.support import line, part, tp


def at(day: str, time: str = "00:00:00") -> str:
    return f"2026-{day}T{time}Z"


def resolved(case_id: str, when: str, score: int, **kw: Any) -> dict[str, Any]:
    return tp("complaint.resolved", at=when, case_id=case_id, resolution="done",
              satisfaction=score, **kw)


def issued(invoice_id: str, amount: str, when: str, due: str, **kw: Any) -> dict[str, Any]:
    return tp("invoice.issued", at=when, invoice_id=invoice_id, amount=amount,
              currency=kw.pop("currency", "EUR"), due_date=due, **kw)


C2 = {"customer_id": "C2"}

#: In arrival order. C1's first error: K1 reopened on 03-02; C2's: the delivery failure of
#: 03-04, which arrives last (``LATE``).
LINES = [
    tp("purchase.placed", at=at("02-01"), order_id="O1", currency="EUR",
       lines=[{"sku": "S1", "qty": 1, "unit_price": "20.00"}], **C2),
    tp("complaint.opened", at=at("03-01"), case_id="K1", category="product"),
    resolved("K1", at("03-01", "10:00:00"), 4, touchpoint_id="rating-a"),  # no error
    tp("complaint.reopened", at=at("03-02"), case_id="K1", reason="broke again"),
    resolved("K1", at("03-03"), 2, touchpoint_id="rating-b"),  # after the reopening
    tp("complaint.opened", at=at("03-05"), case_id="K2", category="delivery",
       subject={"type": "order", "id": "O1"}, **C2),
    resolved("K2", at("03-05", "05:00:00"), 5, touchpoint_id="rating-c", **C2),
    tp("complaint.opened", at=at("04-01"), case_id="K3", category="other", **C2),
    tp("repair.requested", at=at("03-10"), repair_id="R1", serial="SN1", fault="dead",
       warranty=True),
    tp("repair.completed", at=at("03-11"), repair_id="R1", outcome="not_fixed"),
    tp("repair.completed", at=at("03-12"), repair_id="R1", outcome="fixed"),
    tp("repair.requested", at=at("03-20"), repair_id="R2", serial="SN1", fault="dead",
       warranty=False, **C2),  # a repeat_repair of R1's fix
    part("received", 1, at=at("03-10")),
    part("reserved", 1, repair_id="R1", at=at("03-10")),
    part("reserved", 1, repair_id="R2", at=at("03-21")),  # a stock-out
    issued("I1", "100.00", at("03-01"), "2026-03-31"),
    tp("invoice.paid", at=at("03-20"), invoice_id="I1", amount="40"),
    tp("invoice.corrected", at=at("03-25"), invoice_id="I1", error_type="wrong_amount",
       amount_delta="-10.00"),
    issued("I2", "20.00", at("03-02"), "2026-03-15", **C2),
    tp("invoice.paid", at=at("03-10"), invoice_id="I2", amount="25.00", **C2),  # overpaid
    issued("I3", "0", at("04-02"), "2026-04-30", currency="GBP", **C2),
    issued("I4", "10.00", at("04-03"), "2026-04-10"),
    tp("invoice.reminder_sent", at=at("04-12", "08:00:00"), invoice_id="I4"),  # the latest
]
LATE = tp("purchase.delivery_failed", at=at("03-04"), order_id="O1", reason="lost", **C2)

CASES = [
    {"month": "2026-03", "opened": 2, "resolved": 2, "hours_to_resolve_p50": 5.0,
     "hours_to_resolve_p90": 10.0, "reopened": 1, "reopen_rate": 0.5},
    {"month": "2026-04", "opened": 1, "resolved": 0, "hours_to_resolve_p50": None,
     "hours_to_resolve_p90": None, "reopened": 0, "reopen_rate": None},
]
REPAIRS = [
    {"month": "2026-03", "requested": 2, "completed": 1, "first_time_fixed": 0,
     "first_time_fix_rate": 0.0, "hours_to_fix_p50": 48.0, "hours_to_fix_p90": 48.0},
]
PARTS = [{"month": "2026-03", "reservations": 2, "filled": 1, "fill_rate": 0.5}]


def group(scores: list[int]) -> dict[str, Any]:
    return {"ratings": len(scores),
            "mean": round(sum(scores) / len(scores), 2) if scores else None,
            "by_score": {str(s): scores.count(s) for s in range(1, 6)}}


def invoice_row(invoice_id: str, customer: str, currency: str, amount: str, paid: str,
                balance: str, due: str, reminders: int, status: str) -> dict[str, Any]:
    return {"invoice_id": invoice_id, "customer_id": customer, "currency": currency,
            "amount": amount, "paid": paid, "balance": balance, "due_date": due,
            "reminders": reminders, "status": status}


INVOICES = [
    invoice_row("I1", "C1", "EUR", "90.00", "40.00", "50.00", "2026-03-31", 0, "overdue"),
    invoice_row("I2", "C2", "EUR", "20.00", "25.00", "-5.00", "2026-03-15", 0, "paid"),
    invoice_row("I3", "C2", "GBP", "0.00", "0.00", "0.00", "2026-04-30", 0, "paid"),
    invoice_row("I4", "C1", "EUR", "10.00", "0.00", "10.00", "2026-04-10", 1, "overdue"),
]
BY_MONTH = [
    {"month": "2026-03", "currency": "EUR", "issued": 2, "amount": "110.00", "paid": "65.00",
     "outstanding": "50.00", "overdue": 1, "overdue_amount": "50.00"},
    {"month": "2026-04", "currency": "EUR", "issued": 1, "amount": "10.00", "paid": "0.00",
     "outstanding": "10.00", "overdue": 1, "overdue_amount": "10.00"},
    {"month": "2026-04", "currency": "GBP", "issued": 1, "amount": "0.00", "paid": "0.00",
     "outstanding": "0.00", "overdue": 0, "overdue_amount": "0.00"},
]


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    yield application
    application.close()


def ingest(app: JourneyApplication, *objs: dict[str, Any]) -> None:
    summary = Ingestor(app).ingest([line(o) for o in objs])
    assert summary.rejected == 0, summary.as_json()
    Projector(app).catch_up()


def service_tables(app: JourneyApplication) -> dict[str, list[tuple[Any, ...]]]:
    db = Projector(app).db
    t = db.tables()
    with app.journey_recorder.read_rows() as c:
        found = {}
        for table in PROJECTIONS["service"]:
            c.execute(f"SELECT * FROM {getattr(t, table)}")
            found[table] = sorted(tuple(row) for row in c.fetchall())
        return found


def test_kpis_and_invoices_match_figures_computed_by_hand(app: JourneyApplication) -> None:
    ingest(app, *LINES)
    with view_queries(app) as views:
        before = views.kpis()["satisfaction"]
    assert before["no_error"] == group([4, 5]) and before["after_error"] == group([2])

    ingest(app, LATE)  # a late error: rating-c (03-05) is after C2's error of 03-04 now

    with view_queries(app) as views:
        kpis = views.kpis()
        invoices = views.invoices()
        early = views.invoices(as_of_day=date(2026, 4, 1), status="open")
        cost = views.errors(contact_cost=Decimal("12.50"))["failure_demand"]
        april = views.kpis(first_month="2026-04", last_month="2026-04")
        freshness = views.freshness()
    assert kpis == {"cases": CASES, "repairs": REPAIRS, "parts": PARTS, "satisfaction": {
        "after_error": group([2, 5]), "no_error": group([4]), "all": group([4, 2, 5])}}
    assert kpis["satisfaction"]["all"]["mean"] == 3.67
    assert invoices == {"as_of_day": "2026-04-12", "by_month": BY_MONTH, "invoices": INVOICES}
    assert early["as_of_day"] == "2026-04-01"
    assert early["invoices"] == [{**INVOICES[3], "status": "open"}]
    assert [row["overdue"] for row in early["by_month"]] == [1, 0, 0]
    assert [(row["month"], row["failure"], row["cost"]) for row in cost] == [
        ("2026-03", 1, "12.50"), ("2026-04", 0, "0.00")]
    assert april == {"cases": CASES[1:], "repairs": [], "parts": [], "satisfaction": {
        "after_error": group([]), "no_error": group([]), "all": group([])}}
    assert freshness is not None and freshness["view_position"] == freshness["log_head"]

    live = service_tables(app)
    Projector(app).rebuild(["service"])
    assert service_tables(app) == live
    report = audit_replay(app)
    assert report["ok"] is True, report
    with views_as_of(app, TimeFilter()) as replayed:
        assert replayed.kpis() == kpis and replayed.invoices() == invoices


def test_an_empty_store_answers_with_empty_figures_as_of_today(app: JourneyApplication) -> None:
    with view_queries(app) as views:
        before = datetime.now(UTC).date().isoformat()
        invoices = views.invoices()
        kpis = views.kpis()
        after = datetime.now(UTC).date().isoformat()
    assert invoices["as_of_day"] in (before, after) and invoices["by_month"] == []
    assert kpis == {"cases": [], "repairs": [], "parts": [], "satisfaction": {
        "after_error": group([]), "no_error": group([]), "all": group([])}}


def test_a_store_made_before_the_service_view_gets_it_on_its_next_catch_up(
    app: JourneyApplication,
) -> None:
    ingest(app, *LINES, LATE)
    expected = service_tables(app)
    projector = Projector(app)
    db, t = projector.db, projector.db.tables()
    with db.transaction() as (c, _):  # as the store was before: no service tables, no row
        for table in PROJECTIONS["service"]:
            c.execute(f"DROP TABLE {getattr(t, table)}")
        c.execute(db.sql(f"DELETE FROM {db.tracking_table} WHERE application_name = ?"),
                  (TRACKING_PREFIX + "service",))

    with view_queries(app) as views:  # the tables come back empty, honestly behind
        assert views.kpis()["cases"] == []
        freshness = views.freshness()
    assert freshness is not None and freshness["view_position"] == 0

    assert Projector(app, batch_size=7).catch_up() > 0  # the whole log, for this view alone
    assert service_tables(app) == expected
    with view_queries(app) as views:
        assert views.kpis()["cases"] == CASES
        assert views.invoices()["by_month"] == BY_MONTH
        other = views.errors()
        assert views.freshness()["view_position"] == views.freshness()["log_head"]  # type: ignore[index]
    assert other["by_code"]  # the other views were not folded twice
    assert {row["code"]: row["count"] for row in other["by_code"]}["delivery_failed"] == 1
