"""Contract section 2, line by line, on every store: accepted, duplicate or the first reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from journey.infra.ingest import Ingestor
from journey.infra.store import JourneyApplication, open_store
from tests.support import case, invoice, line, order, part, repair, tp

ACCEPTED = "accepted"
DUPLICATE = "duplicate"


@pytest.fixture
def app(store_url: str) -> Iterator[JourneyApplication]:
    application = open_store(store_url)
    yield application
    application.close()


def outcome_of(ingestor: Ingestor, obj: dict[str, Any] | str) -> str:
    """Decide one line in its own batch and name its outcome."""
    summary = ingestor.ingest_batch([line(obj)])
    if summary.accepted:
        return ACCEPTED
    if summary.duplicates:
        return DUPLICATE
    (reason,) = summary.rejected_by_reason
    return reason


def run(app: JourneyApplication, steps: list[tuple[dict[str, Any] | str, str]]) -> None:
    ingestor = Ingestor(app)
    actual = [outcome_of(ingestor, obj) for obj, _ in steps]
    assert [expected for _, expected in steps] == actual


def run_batched(store_url: str, steps: list[tuple[dict[str, Any] | str, str]]) -> None:
    """The same steps in one batch must reach the same outcomes as one by one."""
    application = open_store(store_url)
    try:
        summary = Ingestor(application).ingest_batch([line(obj) for obj, _ in steps])
        expected = [e for _, e in steps]
        assert expected.count(ACCEPTED) == summary.accepted
        assert expected.count(DUPLICATE) == summary.duplicates
        rejected = [r.reason for r in application.journey_recorder.rejects()]
        assert [e for e in expected if e not in (ACCEPTED, DUPLICATE)] == rejected
    finally:
        application.close()


def test_every_type_is_accepted_along_a_valid_journey(app: JourneyApplication) -> None:
    run(app, [
        (order("O1"), ACCEPTED),
        (tp("purchase.delivery_failed", order_id="O1", reason="nobody home"), ACCEPTED),
        (tp("purchase.delivered", order_id="O1"), ACCEPTED),
        (tp("purchase.returned", order_id="O1", lines=[{"sku": "S1", "qty": 1}],
            reason="broken"), ACCEPTED),
        (order("O2"), ACCEPTED),
        (tp("purchase.cancelled", order_id="O2", reason="changed mind"), ACCEPTED),
        (invoice("I1", order_id="O1"), ACCEPTED),
        (tp("invoice.reminder_sent", invoice_id="I1"), ACCEPTED),
        (tp("invoice.corrected", invoice_id="I1", error_type="wrong_amount",
            amount_delta="-5.00"), ACCEPTED),
        (tp("invoice.paid", invoice_id="I1", amount="14.98"), ACCEPTED),
        (case("K1", subject={"type": "invoice", "id": "I1"}), ACCEPTED),
        (tp("complaint.contact_logged", case_id="K1", direction="inbound"), ACCEPTED),
        (tp("complaint.resolved", case_id="K1", resolution="refund", satisfaction=4), ACCEPTED),
        (tp("complaint.reopened", case_id="K1", reason="refund missing"), ACCEPTED),
        (tp("complaint.resolved", case_id="K1", resolution="refunded"), ACCEPTED),
        (tp("complaint.closed", case_id="K1"), ACCEPTED),
        (case("K2", category="repair"), ACCEPTED),
        (repair("R1", case_id="K2"), ACCEPTED),
        (part("received", 5, unit_cost="12.50"), ACCEPTED),
        (part("reserved", 2, repair_id="R1"), ACCEPTED),
        (part("released", 1, repair_id="R1"), ACCEPTED),
        (part("issued", 1, repair_id="R1"), ACCEPTED),
        (part("returned", 1, repair_id="R1"), ACCEPTED),
        (part("adjusted", -1, reason="count"), ACCEPTED),
        (part("transferred", 2, to_location="VAN1"), ACCEPTED),
        (tp("repair.completed", repair_id="R1", outcome="not_fixed"), ACCEPTED),
        (tp("repair.completed", repair_id="R1", outcome="fixed"), ACCEPTED),
        (tp("repair.returned", repair_id="R1"), ACCEPTED),
    ])


def test_a_repeated_touchpoint_is_a_duplicate_and_a_changed_one_conflicts(
    app: JourneyApplication,
) -> None:
    first = order("O1", touchpoint_id="tp-dup")
    reordered = dict(reversed(list(first.items())))
    changed = {**first, "currency": "USD"}
    run(app, [
        (first, ACCEPTED),
        (reordered, DUPLICATE),
        (changed, "conflicting_duplicate"),
        ({**tp("purchase.delivered", order_id="O1"), "touchpoint_id": "tp-dup"},
         "conflicting_duplicate"),
    ])


def test_a_rejected_touchpoint_is_decided_afresh_when_it_comes_again(
    app: JourneyApplication,
) -> None:
    delivered = tp("purchase.delivered", order_id="O9")
    run(app, [
        (delivered, "unknown_entity"),
        (order("O9"), ACCEPTED),
        (delivered, ACCEPTED),
        (delivered, DUPLICATE),
    ])


def test_creating_an_entity_twice_is_already_exists_even_for_another_customer(
    app: JourneyApplication,
) -> None:
    run(app, [
        (order("O1"), ACCEPTED),
        (order("O1", customer_id="C2"), "already_exists"),
        (invoice("I1"), ACCEPTED),
        (invoice("I1"), "already_exists"),
        (case("K1"), ACCEPTED),
        (case("K1"), "already_exists"),
        (repair("R1"), ACCEPTED),
        (repair("R1", case_id="K404"), "already_exists"),
    ])


def test_every_reference_must_exist(app: JourneyApplication) -> None:
    run(app, [
        (tp("invoice.paid", invoice_id="I404", amount="1"), "unknown_entity"),
        (tp("complaint.closed", case_id="K404"), "unknown_entity"),
        (tp("repair.returned", repair_id="R404"), "unknown_entity"),
        (invoice("I1", order_id="O404"), "unknown_entity"),
        (case("K1", subject={"type": "repair", "id": "R404"}), "unknown_entity"),
        (repair("R1", case_id="K404"), "unknown_entity"),
        (part("reserved", 1, repair_id="R404"), "unknown_entity"),
        (part("returned", 1, repair_id="R404"), "unknown_entity"),
        (part("returned", 1), ACCEPTED),
    ])


def test_another_customers_entity_is_a_customer_mismatch(app: JourneyApplication) -> None:
    run(app, [
        (order("O1"), ACCEPTED),
        (tp("purchase.delivered", order_id="O1", customer_id="C2"), "customer_mismatch"),
        (invoice("I1", order_id="O1", customer_id="C2"), "customer_mismatch"),
        (case("K1", subject={"type": "order", "id": "O1"}, customer_id="C2"),
         "customer_mismatch"),
        (case("K2", customer_id="C2"), ACCEPTED),
        (repair("R1", case_id="K2"), "customer_mismatch"),
    ])


def test_precedence_follows_the_contract_table(app: JourneyApplication) -> None:
    run(app, [
        (order("O1"), ACCEPTED),
        (tp("purchase.cancelled", order_id="O1", reason="x"), ACCEPTED),
        # customer_mismatch beats invalid_transition
        (tp("purchase.delivered", order_id="O1", customer_id="C2"), "customer_mismatch"),
        (tp("purchase.delivered", order_id="O1"), "invalid_transition"),
        # already_exists beats unknown_entity and customer_mismatch
        (invoice("I1", order_id="O404"), "unknown_entity"),
        (invoice("I1"), ACCEPTED),
        (invoice("I1", order_id="O404", customer_id="C2"), "already_exists"),
        # invalid beats conflicting_duplicate
        ({**order("O5", touchpoint_id="tp-p"), "extra": 1}, "invalid"),
        ("{not json", "invalid_json"),
        ({"touchpoint_id": "x", "type": "purchase.exploded"}, "unknown_type"),
    ])


def test_order_lifecycle_transitions(app: JourneyApplication) -> None:
    run(app, [
        (order("O1"), ACCEPTED),
        (tp("purchase.returned", order_id="O1", lines=[{"sku": "S1", "qty": 1}], reason="r"),
         "invalid_transition"),
        (tp("purchase.delivered", order_id="O1"), ACCEPTED),
        (tp("purchase.delivered", order_id="O1"), "invalid_transition"),
        (tp("purchase.cancelled", order_id="O1", reason="late"), "invalid_transition"),
        (tp("purchase.delivery_failed", order_id="O1", reason="x"), "invalid_transition"),
        (order("O2"), ACCEPTED),
        (tp("purchase.delivery_failed", order_id="O2", reason="x"), ACCEPTED),
        (tp("purchase.delivery_failed", order_id="O2", reason="y"), ACCEPTED),
        (tp("purchase.cancelled", order_id="O2", reason="z"), ACCEPTED),
        (tp("purchase.delivered", order_id="O2"), "invalid_transition"),
    ])


def test_returns_may_not_exceed_what_was_ordered(app: JourneyApplication) -> None:
    def returned(*lines: tuple[str, int]) -> dict[str, Any]:
        return tp("purchase.returned", order_id="O1", reason="r",
                  lines=[{"sku": s, "qty": q} for s, q in lines])

    run(app, [
        (order("O1", lines=[{"sku": "S1", "qty": 2, "unit_price": 5},
                            {"sku": "S1", "qty": 1, "unit_price": 5},
                            {"sku": "S2", "qty": 1, "unit_price": 5}]), ACCEPTED),
        (tp("purchase.delivered", order_id="O1"), ACCEPTED),
        (returned(("S1", 2)), ACCEPTED),
        (returned(("S1", 1), ("S1", 1)), "invalid_quantity"),
        (returned(("S3", 1)), "invalid_quantity"),
        (returned(("S1", 1), ("S2", 1)), ACCEPTED),
        (returned(("S2", 1)), "invalid_quantity"),
    ])


def test_case_lifecycle_transitions(app: JourneyApplication) -> None:
    run(app, [
        (case("K1"), ACCEPTED),
        (tp("complaint.reopened", case_id="K1", reason="r"), "invalid_transition"),
        (tp("complaint.closed", case_id="K1"), "invalid_transition"),
        (tp("complaint.resolved", case_id="K1", resolution="ok"), ACCEPTED),
        (tp("complaint.contact_logged", case_id="K1", direction="outbound"),
         "invalid_transition"),
        (tp("complaint.resolved", case_id="K1", resolution="ok"), "invalid_transition"),
        (tp("complaint.reopened", case_id="K1", reason="r"), ACCEPTED),
        (tp("complaint.contact_logged", case_id="K1", direction="inbound"), ACCEPTED),
        (tp("complaint.resolved", case_id="K1", resolution="ok"), ACCEPTED),
        (tp("complaint.closed", case_id="K1"), ACCEPTED),
        (tp("complaint.reopened", case_id="K1", reason="r"), "invalid_transition"),
        (tp("complaint.contact_logged", case_id="K1", direction="inbound"),
         "invalid_transition"),
    ])


def test_repair_lifecycle_transitions(app: JourneyApplication) -> None:
    run(app, [
        (repair("R1"), ACCEPTED),
        (tp("repair.returned", repair_id="R1"), "invalid_transition"),
        (tp("repair.completed", repair_id="R1", outcome="not_fixed"), ACCEPTED),
        (tp("repair.completed", repair_id="R1", outcome="no_fault_found"), ACCEPTED),
        (tp("repair.completed", repair_id="R1", outcome="fixed"), "invalid_transition"),
        (tp("repair.returned", repair_id="R1"), ACCEPTED),
        (tp("repair.returned", repair_id="R1"), "invalid_transition"),
    ])


def test_stock_rules(app: JourneyApplication) -> None:
    run(app, [
        (repair("R1"), ACCEPTED),
        (repair("R2"), ACCEPTED),
        (part("issued", 1, repair_id="R1"), "insufficient_stock"),
        (part("adjusted", -1, reason="count"), "insufficient_stock"),
        (part("transferred", 1, to_location="WH2"), "insufficient_stock"),
        (part("received", 3), ACCEPTED),
        (part("reserved", 2, repair_id="R1"), ACCEPTED),
        # only 1 available: accepted as a stock-out, nothing reserved
        (part("reserved", 2, repair_id="R2"), ACCEPTED),
        (part("released", 1, repair_id="R2"), "invalid_quantity"),
        (part("released", 3, repair_id="R1"), "invalid_quantity"),
        (part("transferred", 2, to_location="WH2"), "insufficient_stock"),
        (part("transferred", 1, to_location="WH2"), ACCEPTED),
        # on hand 2, reserved 2: an issue checks on hand only
        (part("issued", 2, repair_id="R2"), ACCEPTED),
        (part("issued", 1, repair_id="R1"), "insufficient_stock"),
        (part("adjusted", 1, reason="found"), ACCEPTED),
        (part("released", 2, repair_id="R1"), ACCEPTED),
    ])


def test_batched_decisions_equal_one_by_one(store_url: str) -> None:
    run_batched(store_url, [
        (order("O1"), ACCEPTED),
        (tp("purchase.delivered", order_id="O1"), ACCEPTED),
        (tp("purchase.delivered", order_id="O1"), "invalid_transition"),
        (order("O1", touchpoint_id="tp-same"), "already_exists"),
        (repair("R1"), ACCEPTED),
        (part("received", 1), ACCEPTED),
        (part("transferred", 1, to_location="WH2"), ACCEPTED),
        (part("issued", 1, repair_id="R1"), "insufficient_stock"),
        (part("issued", 1, repair_id="R1", location="WH2"), ACCEPTED),
        ("[1, 2]", "invalid_json"),
    ])


def test_a_nul_in_a_rejected_line_is_kept_and_does_not_break_the_batch(
    app: JourneyApplication,
) -> None:
    raw = b'{"touchpoint_id": "bad\\u0000id", "type": "purchase.delivered"}'
    summary = Ingestor(app).ingest_batch([raw, line(order("O1"))])

    assert (summary.accepted, summary.rejected) == (1, 1)
    (reject,) = app.journey_recorder.rejects()
    assert reject.raw == raw
    assert reject.touchpoint_id == "bad\ufffdid"
