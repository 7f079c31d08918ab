"""The view folds of contract 3 and 4, folded in memory from decided touchpoints (no store)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from journey.domain.decide import Decider
from journey.domain.stock import PartStock
from journey.projections.stock import Planning, StockFold
from journey.projections.touchpoints import MemoryTouchpointState, TouchpointFold
from journey.projections.views import fold_events, memory_folds
from journey.schemas.parsing import Parsed, parse_line
from tests.support import case, invoice, line, order, part, repair, tp

DAY = "2026-01-01T00:00:00Z"
THIRTY_DAYS_LATER = "2026-01-31T00:00:00Z"
THIRTY_DAYS_AND_A_MICROSECOND_LATER = "2026-01-31T00:00:00.000001Z"


class Log:
    """Touchpoints decided in memory in arrival order; their events numbered like the log."""

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.events: list[tuple[int, Any]] = []
        self._seq = itertools.count(1)

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.aggregates.get(aggregate_id)

    def add(self, *objs: dict[str, Any]) -> list[tuple[int, Any]]:
        """Decide each touchpoint; returns the new (seq, event) pairs."""
        new: list[tuple[int, Any]] = []
        for obj in objs:
            parsed = parse_line(line(obj))
            assert isinstance(parsed, Parsed), parsed
            for aggregate in Decider(self).decide(parsed.touchpoint):
                self.aggregates[aggregate.id] = aggregate
                new.extend((next(self._seq), event) for event in aggregate.collect_events())
        self.events.extend(new)
        return new


def fold(events: list[tuple[int, Any]], state: MemoryTouchpointState | None = None
         ) -> TouchpointFold:
    touchpoints = TouchpointFold(state if state is not None else MemoryTouchpointState())
    for seq, event in events:
        touchpoints.apply(event, seq)
    return touchpoints


def fold_all(*objs: dict[str, Any]) -> TouchpointFold:
    log = Log()
    log.add(*objs)
    return fold(log.events)


def code_of(touchpoints: TouchpointFold, touchpoint_id: str) -> str | None:
    return touchpoints.changes.rows[touchpoint_id].code


def failure_of(touchpoints: TouchpointFold, touchpoint_id: str) -> int | None:
    return touchpoints.changes.rows[touchpoint_id].failure


def nonzero(counter: Counter[Any]) -> dict[Any, int]:
    return {key: n for key, n in counter.items() if n}


def error_counters(touchpoints: TouchpointFold) -> tuple[dict[Any, int], dict[str, int]]:
    """(errors per (kind, month), count per code), without zero entries."""
    rates = {(k, m): n for (k, m, col), n in touchpoints.changes.rates.items()
             if col == "errors" and n}
    return rates, nonzero(touchpoints.changes.by_code)


# --- contract 3: one error code per touchpoint ---------------------------------------------------

ERROR_SCENARIOS: dict[str, tuple[list[dict[str, Any]], dict[str, Any], str]] = {
    "delivery_failed": (
        [order("O1")],
        tp("purchase.delivery_failed", order_id="O1", reason="nobody home"),
        "delivery_failed",
    ),
    "billing": (
        [invoice("I1")],
        tp("invoice.corrected", invoice_id="I1", error_type="wrong_amount", amount_delta="-5"),
        "billing_wrong_amount",
    ),
    "case_reopened": (
        [case("K1"), tp("complaint.resolved", case_id="K1", resolution="refund")],
        tp("complaint.reopened", case_id="K1", reason="refund never came"),
        "case_reopened",
    ),
    "repair_not_fixed": (
        [repair("R1")],
        tp("repair.completed", repair_id="R1", outcome="not_fixed"),
        "repair_not_fixed",
    ),
    "repeat_repair": (
        [repair("R1", at=DAY), tp("repair.completed", at=DAY, repair_id="R1", outcome="fixed")],
        repair("R2", at=THIRTY_DAYS_LATER),
        "repeat_repair",
    ),
    "stock_out": (
        [repair("R1"), part("received", 1)],
        part("reserved", 2, repair_id="R1"),
        "stock_out",
    ),
}


@pytest.mark.parametrize("scenario", ERROR_SCENARIOS)
def test_each_erroneous_touchpoint_type_carries_its_contract_code(scenario: str) -> None:
    before, touchpoint, expected = ERROR_SCENARIOS[scenario]

    touchpoints = fold_all(*before, touchpoint)

    assert code_of(touchpoints, touchpoint["touchpoint_id"]) == expected


@pytest.mark.parametrize("scenario", ERROR_SCENARIOS)
def test_the_upstream_error_wins_over_each_intrinsic_code(scenario: str) -> None:
    before, touchpoint, intrinsic = ERROR_SCENARIOS[scenario]
    flagged = {**touchpoint, "error": "upstream_flag"}

    touchpoints = fold_all(*before, flagged)

    assert code_of(touchpoints, flagged["touchpoint_id"]) == "upstream_flag"
    assert intrinsic not in touchpoints.changes.by_code


def test_an_error_is_counted_once_for_its_kind_month_and_code() -> None:
    failed = tp("purchase.delivery_failed", at="2026-02-03T10:00:00Z", order_id="O1",
                reason="nobody home")

    touchpoints = fold_all(order("O1", at="2026-01-31T23:00:00Z"), failed)

    rates = touchpoints.changes.rates
    january = (rates[("purchase", "2026-01", "touchpoints")],
               rates[("purchase", "2026-01", "errors")])
    february = (rates[("purchase", "2026-02", "touchpoints")],
                rates[("purchase", "2026-02", "errors")])
    assert (january, february) == ((1, 0), (1, 1))
    assert dict(touchpoints.changes.by_code) == {"delivery_failed": 1}


def test_the_month_is_the_utc_calendar_month_of_occurred_at() -> None:
    placed = order("O1", at="2026-03-01T01:00:00+02:00")  # 2026-02-28T23:00:00Z

    row = fold_all(placed).changes.rows[placed["touchpoint_id"]]

    assert (row.month, row.occurred_at) == ("2026-02", "2026-02-28T23:00:00Z")


@pytest.mark.parametrize("outcome", ["fixed", "no_fault_found"])
def test_a_repair_completed_other_than_not_fixed_carries_no_code(outcome: str) -> None:
    completed = tp("repair.completed", repair_id="R1", outcome=outcome)

    touchpoints = fold_all(repair("R1"), completed)

    assert code_of(touchpoints, completed["touchpoint_id"]) is None
    assert error_counters(touchpoints) == ({}, {})


def test_a_reservation_within_stock_and_plain_lifecycle_touchpoints_carry_no_code() -> None:
    objs = [order("O1"), tp("purchase.delivered", order_id="O1"), invoice("I1"),
            tp("invoice.paid", invoice_id="I1", amount="19.98"), case("K1"), repair("R1"),
            part("received", 2), part("reserved", 2, repair_id="R1")]

    touchpoints = fold_all(*objs)

    assert [code_of(touchpoints, o["touchpoint_id"]) for o in objs] == [None] * len(objs)


# --- repeat_repair: 30 x 24 h before the request, another repair, by occurred_at -----------------


def _fixed(repair_id: str, at: str, **kw: Any) -> dict[str, Any]:
    return tp("repair.completed", at=at, repair_id=repair_id, outcome="fixed", **kw)


@pytest.mark.parametrize("fixed_arrives_late", [False, True], ids=["in_order", "late"])
@pytest.mark.parametrize(("requested_at", "expected"), [
    (THIRTY_DAYS_LATER, "repeat_repair"),
    (THIRTY_DAYS_AND_A_MICROSECOND_LATER, None),
    (DAY, "repeat_repair"),  # the same instant is "at most 30 days before"
    ("2026-01-30T23:00:00-01:00", "repeat_repair"),  # 2026-01-31T00:00:00Z
    ("2026-01-31T00:00:00-01:00", None),  # an hour beyond, though the local date matches
], ids=["exactly_30_days", "30_days_and_1us", "same_instant", "exactly_30_days_offset",
        "an_hour_beyond_by_offset"])
def test_a_request_is_a_repeat_within_30_days_of_another_fixed_repair_of_the_serial(
    requested_at: str, expected: str | None, fixed_arrives_late: bool,
) -> None:
    first, fixed, again = repair("R1", at=DAY), _fixed("R1", DAY), repair("R2", at=requested_at)
    arrival = [first, again, fixed] if fixed_arrives_late else [first, fixed, again]

    touchpoints = fold_all(*arrival)

    assert code_of(touchpoints, again["touchpoint_id"]) == expected


def test_a_fixed_completion_after_the_request_does_not_make_it_a_repeat() -> None:
    again = repair("R2", at="2026-01-10T00:00:00Z")

    touchpoints = fold_all(repair("R1", at=DAY), again, _fixed("R1", "2026-01-10T00:00:01Z"))

    assert code_of(touchpoints, again["touchpoint_id"]) is None
    assert error_counters(touchpoints) == ({}, {})


def test_the_same_repair_completing_fixed_is_not_another_repair() -> None:
    # Business time disagrees with arrival: the request says it happened after its own fix.
    request = repair("R1", at="2026-01-05T00:00:00Z")

    touchpoints = fold_all(request, _fixed("R1", DAY))

    assert code_of(touchpoints, request["touchpoint_id"]) is None


@pytest.mark.parametrize("outcome", ["not_fixed", "no_fault_found"])
def test_only_a_fixed_completion_makes_a_later_request_a_repeat(outcome: str) -> None:
    again = repair("R2", at="2026-01-05T00:00:00Z")
    completed = tp("repair.completed", at=DAY, repair_id="R1", outcome=outcome)

    touchpoints = fold_all(repair("R1", at=DAY), completed, again)

    assert code_of(touchpoints, again["touchpoint_id"]) is None


def test_a_fixed_repair_of_the_serial_for_another_customer_makes_a_repeat() -> None:
    again = repair("R2", at="2026-01-05T00:00:00Z", customer_id="C2")

    touchpoints = fold_all(repair("R1", at=DAY), _fixed("R1", DAY), again)

    assert code_of(touchpoints, again["touchpoint_id"]) == "repeat_repair"


def test_a_fixed_repair_of_another_serial_does_not_make_a_repeat() -> None:
    again = repair("R2", at="2026-01-05T00:00:00Z", serial="SN2")

    touchpoints = fold_all(repair("R1", at=DAY, serial="SN1"), _fixed("R1", DAY), again)

    assert code_of(touchpoints, again["touchpoint_id"]) is None


def test_a_late_fixed_completion_classifies_an_already_stored_request_and_counts_it_once(
) -> None:
    log = Log()
    again = repair("R2", at="2026-01-20T00:00:00Z")
    stored = log.add(repair("R1", at=DAY), again)
    state = MemoryTouchpointState()
    first_batch = fold(stored, state)
    late = log.add(_fixed("R1", "2026-01-02T00:00:00Z"))

    second_batch = fold(late, state)

    assert code_of(first_batch, again["touchpoint_id"]) is None
    assert second_batch.changes.codes == {again["touchpoint_id"]: "repeat_repair"}
    assert error_counters(second_batch) == ({("repair", "2026-01"): 1}, {"repeat_repair": 1})


def test_a_second_late_fixed_completion_does_not_count_the_repeat_again() -> None:
    log = Log()
    again = repair("R2", at="2026-01-20T00:00:00Z")
    log.add(repair("R0", at=DAY), repair("R1", at=DAY), again,
            _fixed("R1", "2026-01-02T00:00:00Z"), _fixed("R0", "2026-01-03T00:00:00Z"))

    touchpoints = fold(log.events)

    assert code_of(touchpoints, again["touchpoint_id"]) == "repeat_repair"
    assert error_counters(touchpoints) == ({("repair", "2026-01"): 1}, {"repeat_repair": 1})


def test_a_fixed_completion_flagged_upstream_still_makes_a_later_request_a_repeat() -> None:
    again = repair("R2", at="2026-01-05T00:00:00Z")

    touchpoints = fold_all(repair("R1", at=DAY), _fixed("R1", DAY, error="late_engineer"), again)

    assert code_of(touchpoints, again["touchpoint_id"]) == "repeat_repair"


def test_a_late_fixed_completion_leaves_a_request_with_an_upstream_error_alone() -> None:
    flagged = repair("R2", at="2026-01-20T00:00:00Z", error="duplicate_ticket")

    touchpoints = fold_all(repair("R1", at=DAY), flagged, _fixed("R1", "2026-01-02T00:00:00Z"))

    assert code_of(touchpoints, flagged["touchpoint_id"]) == "duplicate_ticket"
    assert error_counters(touchpoints) == ({("repair", "2026-01"): 1}, {"duplicate_ticket": 1})


# --- failure demand ------------------------------------------------------------------------------


def _failed_delivery(at: str, order_id: str = "O1") -> dict[str, Any]:
    return tp("purchase.delivery_failed", at=at, order_id=order_id, reason="nobody home")


def _about(kind: str, key: str) -> dict[str, str]:
    return {"type": kind, "id": key}


@pytest.mark.parametrize(("demand", "expected"), [("failure", 1), ("value", 0), ("unknown", 0)])
def test_a_contact_without_subject_is_failure_demand_only_when_it_says_so(
    demand: str, expected: int,
) -> None:
    contact = case("K1", demand=demand)

    touchpoints = fold_all(contact)

    counters = touchpoints.changes.demand
    assert failure_of(touchpoints, contact["touchpoint_id"]) == expected
    assert (counters[("2026-03", "contacts")], counters[("2026-03", "failure")]) == (1, expected)


SUBJECT_ERRORS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "order": (order("O1", at=DAY), _failed_delivery("2026-01-02T00:00:00Z")),
    "invoice": (invoice("I1", at=DAY), tp("invoice.corrected", at="2026-01-02T00:00:00Z",
                                          invoice_id="I1", error_type="tax", amount_delta=1)),
    "repair": (repair("R1", at=DAY), tp("repair.completed", at="2026-01-02T00:00:00Z",
                                        repair_id="R1", outcome="not_fixed")),
}


@pytest.mark.parametrize("subject", SUBJECT_ERRORS)
def test_a_contact_of_unknown_demand_is_failure_demand_when_its_subject_had_an_error_before(
    subject: str,
) -> None:
    entity, error = SUBJECT_ERRORS[subject]
    key = entity[f"{subject}_id"]
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about(subject, key))

    touchpoints = fold_all(entity, error, contact)

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 1
    assert touchpoints.changes.demand[("2026-01", "failure")] == 1


def test_an_error_at_the_same_instant_as_the_contact_counts_as_before_it() -> None:
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("order", "O1"))

    touchpoints = fold_all(order("O1", at=DAY), _failed_delivery("2026-01-05T00:00:00Z"),
                           contact)

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 1


def test_a_contact_stating_value_demand_stays_value_demand_despite_errors_on_its_subject(
) -> None:
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("order", "O1"),
                   demand="value")

    touchpoints = fold_all(order("O1", at=DAY), _failed_delivery("2026-01-02T00:00:00Z"),
                           contact)

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 0
    assert touchpoints.changes.demand[("2026-01", "failure")] == 0


def test_an_error_on_another_entity_does_not_make_a_contact_failure_demand() -> None:
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("order", "O1"))

    touchpoints = fold_all(order("O1", at=DAY), order("O2", at=DAY), contact,
                           _failed_delivery("2026-01-02T00:00:00Z", "O2"))

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 0


def test_a_late_error_that_occurred_before_the_contact_flips_it_to_failure_once() -> None:
    log = Log()
    contact = case("K1", at="2026-02-01T00:00:00Z", subject=_about("order", "O1"))
    state = MemoryTouchpointState()
    first_batch = fold(log.add(order("O1", at=DAY), contact), state)
    late = log.add(_failed_delivery("2026-01-31T00:00:00Z"),
                   _failed_delivery("2026-01-30T00:00:00Z"))

    second_batch = fold(late, state)

    assert failure_of(first_batch, contact["touchpoint_id"]) == 0
    assert second_batch.changes.failures == {contact["touchpoint_id"]}
    assert nonzero(second_batch.changes.demand) == {("2026-02", "failure"): 1}


def test_a_late_error_in_the_same_batch_flips_the_contact_row_once() -> None:
    contact = case("K1", at="2026-02-01T00:00:00Z", subject=_about("order", "O1"))

    touchpoints = fold_all(order("O1", at=DAY), contact,
                           _failed_delivery("2026-01-31T00:00:00Z"),
                           _failed_delivery("2026-01-30T00:00:00Z"))

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 1
    assert nonzero(touchpoints.changes.demand) == {("2026-02", "contacts"): 1,
                                                   ("2026-02", "failure"): 1}
    assert touchpoints.changes.failures == set()


def test_a_late_error_at_the_same_instant_as_the_contact_flips_it() -> None:
    log = Log()
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("order", "O1"))
    state = MemoryTouchpointState()
    fold(log.add(order("O1", at=DAY), contact), state)

    second_batch = fold(log.add(_failed_delivery("2026-01-05T00:00:00Z")), state)

    assert second_batch.changes.failures == {contact["touchpoint_id"]}


def test_an_error_that_occurred_after_the_contact_does_not_make_it_failure_demand() -> None:
    log = Log()
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("order", "O1"))
    state = MemoryTouchpointState()
    first_batch = fold(log.add(order("O1", at=DAY), contact), state)

    second_batch = fold(log.add(_failed_delivery("2026-01-05T00:00:00.000001Z")), state)

    assert failure_of(first_batch, contact["touchpoint_id"]) == 0
    assert second_batch.changes.failures == set()
    assert second_batch.changes.demand[("2026-01", "failure")] == 0


def test_a_stock_out_on_a_repairs_reservation_makes_a_later_contact_about_it_failure_demand(
) -> None:
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("repair", "R1"))

    touchpoints = fold_all(repair("R1", at=DAY),
                           part("reserved", 1, repair_id="R1", at="2026-01-02T00:00:00Z"),
                           contact)

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 1


def test_a_late_stock_out_on_a_repairs_reservation_flips_a_contact_about_it() -> None:
    log = Log()
    contact = case("K1", at="2026-01-05T00:00:00Z", subject=_about("repair", "R1"))
    state = MemoryTouchpointState()
    fold(log.add(repair("R1", at=DAY), contact), state)
    late = log.add(part("reserved", 1, repair_id="R1", at="2026-01-02T00:00:00Z"))

    second_batch = fold(late, state)

    assert second_batch.changes.failures == {contact["touchpoint_id"]}
    assert second_batch.changes.demand[("2026-01", "failure")] == 1


def test_a_request_classified_repeat_late_flips_a_contact_about_that_repair() -> None:
    contact = case("K1", at="2026-01-21T00:00:00Z", subject=_about("repair", "R2"))

    touchpoints = fold_all(repair("R1", at=DAY), repair("R2", at="2026-01-20T00:00:00Z"),
                           contact, _fixed("R1", "2026-01-02T00:00:00Z"))

    assert failure_of(touchpoints, contact["touchpoint_id"]) == 1
    assert touchpoints.changes.demand[("2026-01", "failure")] == 1


# --- rows for the timeline -----------------------------------------------------------------------


def test_a_part_movement_naming_a_repair_belongs_to_the_repairs_customer() -> None:
    reserved = part("reserved", 1, repair_id="R1")
    received = part("received", 1)

    touchpoints = fold_all(repair("R1", customer_id="C7"), received, reserved)

    rows = touchpoints.changes.rows
    movement = rows[reserved["touchpoint_id"]]
    assert (movement.customer_id, movement.entity, movement.subject) == (
        "C7", "part:P1@WH1", "repair:R1")
    assert rows[received["touchpoint_id"]].customer_id is None


def test_a_transfer_is_one_touchpoint_though_it_moves_two_stocks() -> None:
    transfer = part("transferred", 2, to_location="VAN1")

    touchpoints = fold_all(part("received", 3), transfer)

    assert touchpoints.changes.rates[("part", "2026-03", "touchpoints")] == 2
    assert len(touchpoints.changes.rows) == 2
    assert touchpoints.changes.rows[transfer["touchpoint_id"]].entity == "part:P1@WH1"


def test_rows_keep_the_log_position_of_their_touchpoint() -> None:
    log = Log()
    first, second = order("O1"), tp("purchase.delivered", order_id="O1")
    log.add(first, second)

    touchpoints = fold(log.events)

    rows = touchpoints.changes.rows
    assert rows[first["touchpoint_id"]].seq < rows[second["touchpoint_id"]].seq


# --- stock ---------------------------------------------------------------------------------------


def _stock_fold(log: Log) -> StockFold:
    nothing_yet: dict[tuple[str, str], PartStock] = {}
    stock = StockFold(nothing_yet.get)
    for _, event in log.events:
        stock.apply(event)
    return stock


def _levels(stock: StockFold) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    return {pair: (s.on_hand, s.reserved, s.available, s.backordered)
            for pair, s in stock.changes.stocks.items()}


def test_the_stock_fold_follows_contract_2_3_for_every_pair_a_movement_touched() -> None:
    log = Log()
    log.add(repair("R1"), repair("R2"), order("O1"),
            part("received", 5, at="2026-03-01T08:00:00Z"),
            part("reserved", 2, repair_id="R1", at="2026-03-01T09:00:00Z"),
            part("reserved", 4, repair_id="R2", at="2026-03-01T10:00:00Z"),  # stock-out
            part("issued", 2, repair_id="R1", at="2026-03-02T08:00:00Z"),
            part("transferred", 3, to_location="VAN1", at="2026-03-03T08:00:00Z"),
            part("adjusted", -1, location="VAN1", reason="count", at="2026-03-03T09:00:00Z"),
            part("received", 1, part_id="P2", at="2026-03-04T08:00:00Z"),
            part("adjusted", -1, part_id="P2", reason="count", at="2026-03-04T09:00:00Z"))

    stock = _stock_fold(log)

    assert _levels(stock) == {
        ("P1", "WH1"): (0, 0, 0, 4),
        ("P1", "VAN1"): (2, 0, 2, 0),
        ("P2", "WH1"): (0, 0, 0, 0),  # a pair at zero is still a row
    }
    assert dict(stock.changes.issues) == {("P1", "WH1", "2026-03-02"): 2}
    assert stock.changes.latest_day == "2026-03-04"


def test_the_stock_fold_continues_from_a_loaded_state() -> None:
    log = Log()
    log.add(repair("R1"), part("received", 5), part("reserved", 2, repair_id="R1"))
    first = _stock_fold(log)
    later = log.add(part("issued", 3, repair_id="R1"))

    second: StockFold = StockFold(first.changes.stocks.get)
    for _, event in later:
        second.apply(event)

    assert _levels(second) == {("P1", "WH1"): (2, 0, 2, 0)}


def test_the_stock_fold_ignores_other_events() -> None:
    log = Log()
    log.add(order("O1"), repair("R1"), case("K1"))

    stock = _stock_fold(log)

    assert (stock.changes.stocks, stock.changes.latest_day) == ({}, None)


# --- planning ------------------------------------------------------------------------------------


def test_planning_uses_the_mean_and_population_sigma_over_every_day_of_the_window() -> None:
    # Window 4 days: issues 4 and 4 on two days, 0 on two -> mean 2, variance
    # (2² + 2² + 2² + 2²) / 4 = 4, sigma 2. L = 4: 2*4 + z*2*√4 = 8 + 4z.
    planning = Planning(lead_time_days=4, service_level=0.95, window_days=4)
    z = 1.644854  # the standard-normal 95 % quantile

    figures = planning.figures([4, 4], available=10, backordered=0)

    assert figures == {
        "issued_4d": 8,
        "days_of_supply": 5.0,
        "reorder_point": round(8 + 4 * z, 2),
        "needs_reorder": True,
    }
    assert figures["reorder_point"] == 14.58


def test_planning_with_a_median_service_level_orders_the_mean_demand_over_the_lead_time() -> None:
    # z = 0 at 50 %: reorder point = mean * L = (3 + 6) / 9 * 3 = 3.
    planning = Planning(lead_time_days=3, service_level=0.5, window_days=9)

    figures = planning.figures([3, 6], available=4, backordered=0)

    assert figures == {"issued_9d": 9, "days_of_supply": 4.0, "reorder_point": 3.0,
                       "needs_reorder": False}


def test_planning_sigma_counts_days_without_issues_as_zero() -> None:
    # Window 10 days, 10 issued on one day: mean 1, variance (81 + 9 * 1) / 10 = 9, sigma 3.
    # L = 1: reorder point = 1 + z * 3.
    planning = Planning(lead_time_days=1, service_level=0.95, window_days=10)

    figures = planning.figures([10], available=2, backordered=0)

    assert figures["reorder_point"] == round(1 + 3 * 1.644854, 2) == 5.93
    assert figures["days_of_supply"] == 2.0
    assert figures["needs_reorder"] is True


def test_nothing_issued_gives_no_days_of_supply_and_a_zero_reorder_point() -> None:
    planning = Planning(window_days=90)

    figures = planning.figures([], available=3, backordered=0)

    assert figures == {"issued_90d": 0, "days_of_supply": None, "reorder_point": 0.0,
                       "needs_reorder": False}


@pytest.mark.parametrize(("available", "backordered", "expected"), [
    (0, 0, False),  # nothing used, nothing wanted
    (0, 2, True),  # a stock-out waits and nothing is available
    (-1, 1, True),  # a count left available negative
    (1, 2, False),  # something is still available, and no demand history
])
def test_without_issues_only_an_open_backorder_with_nothing_available_needs_reorder(
    available: int, backordered: int, expected: bool,
) -> None:
    figures = Planning().figures([], available=available, backordered=backordered)

    assert figures["needs_reorder"] is expected


def test_a_reorder_point_reached_exactly_needs_reorder() -> None:
    # z = 0: reorder point = 9 / 9 * 3 = 3; available 3 is at it.
    planning = Planning(lead_time_days=3, service_level=0.5, window_days=9)

    figures = planning.figures([9], available=3, backordered=0)

    assert (figures["reorder_point"], figures["needs_reorder"]) == (3.0, True)


# --- fold_events: the one loop behind catch-up, rebuild, the view worker and as-of answers ---


def test_fold_events_feeds_each_fold_only_what_is_past_its_position() -> None:
    log = Log()
    log.add(part("received", qty=5, touchpoint_id="in"), order("O1", touchpoint_id="buy"),
            part("received", qty=2, touchpoint_id="more"))
    folds = memory_folds()
    registered_and_first, placed = 2, 3  # the stock's registration rides with its first receipt

    fold_events(log.events, folds, after={"touchpoints": placed, "stock": registered_and_first})

    written = {name: fold.writes() for name, fold in folds.items()}
    assert [row[0] for row in written["touchpoints"].rows] == ["more"]
    assert [s[:3] for s in written["stock"].stocks] == [("P1", "WH1", 2)]
    assert written["service"].latest_us is not None  # no position: it took all three


def test_fold_events_skips_a_view_that_is_not_being_built() -> None:
    log = Log()
    log.add(order("O1", touchpoint_id="buy"), part("received", qty=1, touchpoint_id="in"))
    folds = memory_folds(["stock"])

    fold_events(log.events, folds)

    assert list(folds) == ["stock"]
    assert [s[:3] for s in folds["stock"].writes().stocks] == [("P1", "WH1", 1)]


def test_a_memory_fold_goes_on_across_batches_each_writes_holding_only_its_own() -> None:
    log = Log()
    first = log.add(part("received", qty=5, touchpoint_id="in"))
    second = log.add(part("received", qty=2, touchpoint_id="more"))
    folds = memory_folds()

    fold_events(first, folds)
    batches = [{name: fold.writes() for name, fold in folds.items()}]
    fold_events(second, folds)
    batches.append({name: fold.writes() for name, fold in folds.items()})

    assert [[r[0] for r in b["touchpoints"].rows] for b in batches] == [["in"], ["more"]]
    assert [[s[2] for s in b["stock"].stocks] for b in batches] == [[5], [7]]
