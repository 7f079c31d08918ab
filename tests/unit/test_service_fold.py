"""The service fold of contract 4.6 and 4.8, from touchpoints decided in memory.

Each scenario is folded twice: over a ``MemoryServiceState`` (rebuilds) and over the view
tables of an in-memory SQLite database through ``SqlServiceState`` (catch-up), one batch per
touchpoint, so late arrivals cross batch boundaries; both must give the same tables.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given, settings
from hypothesis import strategies as st

from journey.domain.decide import Decider
from journey.projections.service import MemoryServiceState, ServiceFold
from journey.projections.service.table import SqlServiceState, statements, write_service
from journey.projections.tables import PROJECTIONS, Tables
from journey.schemas.parsing import Parsed, parse_line
from tests.support import case, invoice, line, part, repair, tp

T = Tables()
HOUR = 3_600_000_000


class Log:
    """Touchpoints decided in memory in arrival order; their events numbered like the log,
    grouped by touchpoint (one batch each)."""

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}
        self.batches: list[list[tuple[int, Any]]] = []
        self._seq = itertools.count(1)

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.aggregates.get(aggregate_id)

    def add(self, *objs: dict[str, Any]) -> Log:
        for obj in objs:
            parsed = parse_line(line(obj))
            assert isinstance(parsed, Parsed), parsed
            batch = []
            for aggregate in Decider(self).decide(parsed.touchpoint):
                self.aggregates[aggregate.id] = aggregate
                batch.extend((next(self._seq), event) for event in aggregate.collect_events())
            self.batches.append(batch)
        return self

    @property
    def events(self) -> list[tuple[int, Any]]:
        return [pair for batch in self.batches for pair in batch]


class Scratch:
    """The service tables in an in-memory SQLite database."""

    sql = staticmethod(lambda statement: statement)

    def __init__(self) -> None:
        self.connection = sqlite3.connect(":memory:")
        self.c = self.connection.cursor()
        for statement in statements(T, "unit"):
            self.c.execute(statement)

    def write(self, fold: ServiceFold) -> None:
        write_service(self, self.c, T, fold.writes())

    def rows(self, table: str, order: str = "1") -> list[tuple[Any, ...]]:
        self.c.execute(f"SELECT * FROM {getattr(T, table)} ORDER BY {order}")
        return self.c.fetchall()

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        return {table: sorted(self.rows(table)) for table in PROJECTIONS["service"]}


def in_memory(log: Log) -> Scratch:
    """The whole log through one memory fold, written once per touchpoint."""
    scratch = Scratch()
    fold = ServiceFold(MemoryServiceState())
    for batch in log.batches:
        for seq, event in batch:
            fold.apply(seq, event)
        scratch.write(fold)
    return scratch


def over_tables(log: Log, batch_size: int = 1) -> Scratch:
    """The log through SQL-state folds, ``batch_size`` touchpoints at a time."""
    scratch = Scratch()
    for start in range(0, len(log.batches), batch_size):
        events = [p for b in log.batches[start:start + batch_size] for p in b]
        fold = ServiceFold(SqlServiceState(scratch, scratch.c, T))
        fold.prepare(events)
        for seq, event in events:
            fold.apply(seq, event)
        scratch.write(fold)
    return scratch


@contextmanager
def folded(*objs: dict[str, Any]) -> Iterator[Scratch]:
    """The tables of ``objs`` folded in memory; the same from the SQL state, one touchpoint
    or all of them a batch (checked on the way out)."""
    log = Log().add(*objs)
    scratch = in_memory(log)
    yield scratch
    expected = scratch.tables()
    assert over_tables(log).tables() == expected
    assert over_tables(log, batch_size=len(log.batches)).tables() == expected


def ratings(scratch: Scratch) -> dict[str, int]:
    """touchpoint_id -> after_error"""
    return {r[0]: r[6] for r in scratch.rows("view_service_ratings")}


def satisfaction(scratch: Scratch) -> dict[tuple[str, int, int], int]:
    return {(m, a, s): n for m, a, s, n in scratch.rows("view_service_satisfaction")}


def resolved(case_id: str, at: str, score: int | None = None, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"case_id": case_id, "resolution": "done", **kw}
    if score is not None:
        fields["satisfaction"] = score
    return tp("complaint.resolved", at=at, **fields)


def issued(invoice_id: str, amount: Any, at: str = "2026-03-01T00:00:00Z",
           currency: str = "EUR", **kw: Any) -> dict[str, Any]:
    return tp("invoice.issued", at=at, invoice_id=invoice_id, amount=amount,
              currency=currency, due_date="2026-03-31", **kw)


def completed(repair_id: str, at: str, outcome: str, **kw: Any) -> dict[str, Any]:
    return tp("repair.completed", at=at, repair_id=repair_id, outcome=outcome, **kw)


# --- satisfaction: a rating is after an error at or before it on the customer's timeline -------


def test_a_late_error_dated_before_a_rating_moves_it_to_after_error() -> None:
    rating = resolved("K1", "2026-03-10T00:00:00Z", 4, touchpoint_id="rating")
    failed = tp("purchase.delivery_failed", at="2026-03-05T00:00:00Z", order_id="O1",
                reason="lost")
    with folded(case("K1", at="2026-03-01T00:00:00Z"), rating,
                tp("purchase.placed", at="2026-03-01T00:00:00Z", order_id="O1",
                   currency="EUR", lines=[{"sku": "S", "qty": 1, "unit_price": "1"}]),
                failed) as scratch:
        assert ratings(scratch) == {"rating": 1}
        assert satisfaction(scratch) == {("2026-03", 1, 4): 1}  # no row left at 0
        assert scratch.rows("view_service_customers") == [("C1", 1772668800000000)]


def test_an_error_after_the_rating_or_of_another_customer_leaves_it_with_no_error() -> None:
    with folded(case("K1", at="2026-03-01T00:00:00Z"),
                resolved("K1", "2026-03-10T00:00:00Z", 2, touchpoint_id="rating"),
                invoice("I1", at="2026-03-01T00:00:00Z"),
                tp("invoice.corrected", at="2026-03-10T00:00:00.000001Z", invoice_id="I1",
                   error_type="tax", amount_delta="1"),
                invoice("I2", customer_id="C2", at="2026-03-01T00:00:00Z"),
                tp("invoice.corrected", customer_id="C2", at="2026-03-02T00:00:00Z",
                   invoice_id="I2", error_type="tax", amount_delta="1")) as scratch:
        assert ratings(scratch) == {"rating": 0}
        assert satisfaction(scratch) == {("2026-03", 0, 2): 1}


def test_an_error_at_the_ratings_very_instant_or_on_the_rating_itself_counts() -> None:
    with folded(case("K1", at="2026-03-01T00:00:00Z"),
                resolved("K1", "2026-03-10T00:00:00Z", 5, touchpoint_id="same_instant"),
                case("K2", at="2026-03-01T00:00:00Z", customer_id="C2"),
                resolved("K2", "2026-03-11T00:00:00Z", 3, touchpoint_id="flagged",
                         customer_id="C2", error="upstream_flag"),
                repair("R1", at="2026-03-01T00:00:00Z"),
                completed("R1", "2026-03-10T00:00:00Z", "not_fixed")) as scratch:
        assert ratings(scratch) == {"same_instant": 1, "flagged": 1}


def test_a_late_fixed_completion_makes_a_repeat_repair_and_its_customers_rating_follows() -> None:
    # C2's repair of serial SN1 comes first; C1's fixed repair of the same serial, dated 10
    # days before it, arrives afterwards: C2's request is a repeat_repair (an error at the
    # request), so C2's later rating is after an error; C1's own rating is not.
    with folded(repair("R2", at="2026-04-20T00:00:00Z", customer_id="C2", serial="SN1"),
                case("K2", at="2026-04-21T00:00:00Z", customer_id="C2"),
                resolved("K2", "2026-04-22T00:00:00Z", 1, customer_id="C2",
                         touchpoint_id="c2_rating"),
                case("K1", at="2026-04-01T00:00:00Z"),
                resolved("K1", "2026-04-23T00:00:00Z", 5, touchpoint_id="c1_rating"),
                repair("R1", at="2026-04-01T00:00:00Z", serial="SN1"),
                completed("R1", "2026-04-10T00:00:00Z", "fixed")) as scratch:
        assert ratings(scratch) == {"c2_rating": 1, "c1_rating": 0}
        errors = {r[0]: r[5] for r in scratch.rows("view_service_repairs")}
        assert errors == {"R1": 0, "R2": 1}
        assert dict(scratch.rows("view_service_customers")) == {
            "C2": 1776643200000000}  # 2026-04-20: the request's occurred_at


def test_a_fixed_completion_more_than_30_days_before_is_no_repeat() -> None:
    with folded(repair("R2", at="2026-05-20T00:00:00.000001Z", customer_id="C2",
                       serial="SN1"),
                repair("R1", at="2026-04-01T00:00:00Z", serial="SN1"),
                completed("R1", "2026-04-20T00:00:00Z", "fixed")) as scratch:
        assert {r[0]: r[5] for r in scratch.rows("view_service_repairs")} == {"R1": 0, "R2": 0}
        assert scratch.rows("view_service_customers") == []


def test_a_stock_out_is_an_error_of_the_repairs_customer() -> None:
    with folded(repair("R1", at="2026-03-01T00:00:00Z", customer_id="C7"),
                case("K1", at="2026-03-01T00:00:00Z", customer_id="C7"),
                resolved("K1", "2026-03-09T00:00:00Z", 3, customer_id="C7",
                         touchpoint_id="rating"),
                part("reserved", 2, repair_id="R1", at="2026-03-08T00:00:00Z")) as scratch:
        assert ratings(scratch) == {"rating": 1}
        row = scratch.rows("view_service_repairs")[0]
        assert row[-1] == 1772928000000000  # part_error_us: 2026-03-08


def test_a_movement_before_its_repairs_request_waits_for_the_customer() -> None:
    # The Kafka view worker may see it so: a stock-out from the part's partition first.
    request = Log().add(repair("R1", at="2026-03-01T00:00:00Z", customer_id="C7"))
    moved = Log().add(repair("R1", at="2026-03-01T00:00:00Z", customer_id="C7"),
                      part("reserved", 2, repair_id="R1", at="2026-03-02T00:00:00Z"))
    stock_out = moved.batches[1][-1]  # the Backordered event (after the registration)
    first_request = request.batches[0]
    scratch = Scratch()
    for events in ([stock_out], first_request):
        fold = ServiceFold(SqlServiceState(scratch, scratch.c, T))
        fold.prepare(events)
        for seq, event in events:
            fold.apply(seq, event)
        scratch.write(fold)
    assert scratch.rows("view_service_customers") == [("C7", 1772409600000000)]
    (row,) = scratch.rows("view_service_repairs")
    assert row[:4] == ("R1", "C7", "SN1", "2026-03")


# --- cases and repairs: the earliest resolution and completion follow late arrivals ------------


def test_a_late_resolution_dated_earlier_becomes_the_earliest() -> None:
    with folded(case("K1", at="2026-03-01T00:00:00Z"),
                resolved("K1", "2026-03-03T00:00:00Z"),
                tp("complaint.reopened", at="2026-03-04T00:00:00Z", case_id="K1", reason="no"),
                resolved("K1", "2026-03-02T00:00:00Z")) as scratch:
        assert scratch.rows("view_service_cases") == [
            ("K1", "C1", "2026-03", 1772323200000000, 1772323200000000 + 24 * HOUR, 1)]
        assert scratch.rows("view_service_case_months") == [
            ("2026-03", 1, 1, 1, 24 * HOUR, 24 * HOUR)]


def test_a_late_completion_dated_earlier_decides_first_time_fix() -> None:
    with folded(repair("R1", at="2026-03-01T00:00:00Z"),
                completed("R1", "2026-03-05T00:00:00Z", "not_fixed"),
                completed("R1", "2026-03-03T00:00:00Z", "fixed")) as scratch:
        (row,) = scratch.rows("view_service_repairs")
        assert row[6:10] == (1772496000000000, 3, "fixed", 1772496000000000)
        assert scratch.rows("view_service_repair_months") == [
            ("2026-03", 1, 1, 1, 1, 48 * HOUR, 48 * HOUR)]


def test_completions_at_the_same_instant_go_by_arrival() -> None:
    with folded(repair("R1", at="2026-03-01T00:00:00Z"),
                completed("R1", "2026-03-05T00:00:00Z", "not_fixed"),
                completed("R1", "2026-03-05T00:00:00Z", "fixed")) as scratch:
        (row,) = scratch.rows("view_service_repairs")
        assert (row[7], row[8]) == (2, "not_fixed")  # the first to arrive, log position 2
        assert scratch.rows("view_service_repair_months") == [
            ("2026-03", 1, 1, 0, 1, 96 * HOUR, 96 * HOUR)]


def test_a_resolution_dated_before_the_opening_counts_by_its_distance() -> None:
    with folded(case("K1", at="2026-03-02T00:00:00Z"),
                resolved("K1", "2026-03-01T12:00:00Z")) as scratch:
        assert scratch.rows("view_service_case_months")[0][4:] == (12 * HOUR, 12 * HOUR)


def test_month_rows_count_cases_and_repairs_of_their_month_with_nearest_rank_percentiles(
) -> None:
    objs: list[dict[str, Any]] = []
    for n in range(1, 11):  # cases resolved after 1..10 hours; case 10 never resolved
        objs.append(case(f"K{n}", at="2026-03-01T00:00:00Z"))
        if n < 10:
            objs.append(resolved(f"K{n}", f"2026-03-01T{n:02d}:00:00Z"))
    objs.append(case("K11", at="2026-04-01T00:00:00Z"))
    with folded(*objs) as scratch:
        assert scratch.rows("view_service_case_months") == [
            ("2026-03", 10, 9, 0, 5 * HOUR, 9 * HOUR),  # ranks ceil(4.5) = 5, ceil(8.1) = 9
            ("2026-04", 1, 0, 0, None, None)]


# --- parts and the latest touchpoint -------------------------------------------------------------


def test_parts_count_reservations_and_those_filled_per_month() -> None:
    with folded(repair("R1", at="2026-03-01T00:00:00Z"),
                part("received", 3, at="2026-03-01T00:00:00Z"),
                part("reserved", 2, repair_id="R1", at="2026-03-02T00:00:00Z"),
                part("reserved", 2, repair_id="R1", at="2026-03-03T00:00:00Z"),  # stock-out
                part("reserved", 1, repair_id="R1", at="2026-04-01T00:00:00Z"),
                part("released", 1, repair_id="R1", at="2026-04-02T00:00:00Z")) as scratch:
        assert scratch.rows("view_service_part_months") == [("2026-03", 2, 1), ("2026-04", 1, 1)]
        assert scratch.rows("view_service_meta") == [("latest_occurred_us", 1775088000000000)]


# --- invoices: exact money -----------------------------------------------------------------------

BIG = "99999999999999999999999999.99"  # the largest amount the contract takes


def test_invoice_amounts_corrections_payments_and_balances_are_exact() -> None:
    with folded(issued("I1", "100", at="2026-03-01T00:00:00Z"),
                tp("invoice.corrected", invoice_id="I1", error_type="pricing",
                   amount_delta="-0.01", at="2026-03-02T00:00:00Z"),
                tp("invoice.paid", invoice_id="I1", amount="60.5", at="2026-03-03T00:00:00Z"),
                tp("invoice.paid", invoice_id="I1", amount="39.50", at="2026-03-04T00:00:00Z"),
                tp("invoice.reminder_sent", invoice_id="I1", at="2026-03-05T00:00:00Z"),
                issued("I2", BIG, at="2026-03-09T00:00:00Z"),
                issued("I3", BIG, at="2026-03-09T00:00:00Z"),
                tp("invoice.paid", invoice_id="I3", amount="0.01", at="2026-03-10T00:00:00Z"),
                issued("I4", "0", currency="GBP", at="2026-03-09T00:00:00Z"),
                tp("invoice.paid", invoice_id="I4", amount="3.25",
                   at="2026-03-10T00:00:00Z")) as scratch:
        assert scratch.rows("view_service_invoices") == [
            ("I1", "C1", "EUR", "2026-03", "2026-03-31", "100.00", "-0.01", "99.99", "100.00",
             "-0.01", 0, 1),
            ("I2", "C1", "EUR", "2026-03", "2026-03-31", BIG, "0.00", BIG, "0.00", BIG, 1, 0),
            ("I3", "C1", "EUR", "2026-03", "2026-03-31", BIG, "0.00", BIG, "0.01",
             "99999999999999999999999999.98", 1, 0),
            ("I4", "C1", "GBP", "2026-03", "2026-03-31", "0.00", "0.00", "0.00", "3.25",
             "-3.25", 0, 0)]
        assert scratch.rows("view_service_invoice_months") == [  # beyond 28 digits, exact
            ("2026-03", "EUR", 3, "200000000000000000000000099.97", "100.01",
             "199999999999999999999999999.97"),
            ("2026-03", "GBP", 1, "0.00", "3.25", "0.00")]


def test_an_overpaid_invoice_leaves_what_is_outstanding_until_corrected_up() -> None:
    with folded(issued("I1", "10.00", at="2026-03-01T00:00:00Z"),
                tp("invoice.paid", invoice_id="I1", amount="15", at="2026-03-02T00:00:00Z"),
                tp("invoice.corrected", invoice_id="I1", error_type="missing_line",
                   amount_delta="7.5", at="2026-03-03T00:00:00Z")) as scratch:
        (row,) = scratch.rows("view_service_invoices")
        assert row[7:11] == ("17.50", "15.00", "2.50", 1)
        assert scratch.rows("view_service_invoice_months") == [
            ("2026-03", "EUR", 1, "17.50", "15.00", "2.50")]


@pytest.mark.parametrize("amount", ["12.5", 12.5, 1000, "0.10"])
def test_amounts_are_stored_with_exactly_two_decimals(amount: Any) -> None:
    with folded(issued("I1", amount)) as scratch:
        stored = scratch.rows("view_service_invoices")[0][5]
        assert stored == f"{Decimal(str(amount)):.2f}"


# --- batches: the tables do not depend on where a batch ends ---------------------------------

MIXED = [
    repair("R2", at="2026-04-20T00:00:00Z", customer_id="C2", serial="SN1"),
    case("K2", at="2026-04-21T00:00:00Z", customer_id="C2"),
    resolved("K2", "2026-04-22T00:00:00Z", 1, customer_id="C2"),
    case("K1", at="2026-04-01T00:00:00Z"),
    resolved("K1", "2026-04-23T00:00:00Z", 5),
    tp("complaint.reopened", at="2026-04-24T00:00:00Z", case_id="K1", reason="no"),
    resolved("K1", "2026-04-02T00:00:00Z", 3),
    repair("R1", at="2026-04-01T00:00:00Z", serial="SN1"),
    part("received", 1, at="2026-04-01T00:00:00Z"),
    part("reserved", 1, repair_id="R1", at="2026-04-03T00:00:00Z"),
    part("reserved", 1, repair_id="R2", at="2026-04-21T00:00:00Z"),
    completed("R1", "2026-04-12T00:00:00Z", "not_fixed"),
    completed("R1", "2026-04-10T00:00:00Z", "fixed"),
    issued("I1", "10.00", at="2026-04-30T00:00:00Z"),
    tp("invoice.paid", invoice_id="I1", amount="12", at="2026-04-30T00:00:00Z"),
    tp("invoice.corrected", invoice_id="I1", error_type="tax", amount_delta="2.5",
       at="2026-04-30T00:00:00Z"),
    issued("I2", "5", currency="GBP", customer_id="C2"),
]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=len(MIXED)))
def test_any_cut_into_batches_gives_the_same_tables(sizes: list[int]) -> None:
    log = Log().add(*MIXED)
    expected = in_memory(log).tables()
    scratch = Scratch()
    start, cuts = 0, itertools.cycle(sizes)
    while start < len(log.batches):
        size = next(cuts)
        events = [p for b in log.batches[start:start + size] for p in b]
        fold = ServiceFold(SqlServiceState(scratch, scratch.c, T))
        fold.prepare(events)
        for seq, event in events:
            fold.apply(seq, event)
        scratch.write(fold)
        start += size
    assert scratch.tables() == expected
    assert ratings(scratch) == {MIXED[2]["touchpoint_id"]: 1, MIXED[4]["touchpoint_id"]: 1,
                                MIXED[6]["touchpoint_id"]: 0}
