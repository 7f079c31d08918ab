"""The engine's bounds (docs/contract.md 1.3, issue 11): values and sums that fit every store.

Schema bounds are refused as ``invalid`` by the parser; sums the stock keeps are refused as
``invalid_quantity`` by the domain (the stock's figures are set near the ceiling directly: no
store, pure logic).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from journey.domain.stock import MAX_ISSUED_PER_DAY, MAX_STOCK, PartStock
from journey.schemas.fields import MAX_QTY, MAX_YEAR, MIN_YEAR
from journey.schemas.parsing import Invalid, Parsed, parse_line
from tests.support import Memory, Refused, invoice, line, order, part, repair, tp


def outcome(obj: dict[str, Any]) -> str:
    result = parse_line(line(obj))
    if isinstance(result, Parsed):
        return "accepted"
    assert isinstance(result, Invalid)
    return f"{result.reason}: {result.detail.split(' (got')[0]}"


def test_the_bounds_leave_room_in_every_column() -> None:
    assert (MAX_QTY, MAX_STOCK, MAX_ISSUED_PER_DAY) == (10**8, 10**15, 10**8)
    assert 2 * MAX_STOCK < 2**53 < 2**63  # available = on_hand - reserved, exact as a double
    assert 90 * MAX_ISSUED_PER_DAY**2 < 2**63 - 1  # the stock view's window of squares
    assert 500 * MAX_QTY < MAX_STOCK  # the quantity of one sku in one order
    assert (MIN_YEAR, MAX_YEAR) == (1900, 9000)


@pytest.mark.parametrize(("obj", "expected"), [
    (part("received", 10**8), "accepted"),
    (part("received", 10**8 + 1), "invalid: qty: must be an integer from 1 to 100000000"),
    (part("received", 2**63), "invalid: qty: must be an integer from 1 to 100000000"),
    (part("adjusted", -(10**8), reason="count"), "accepted"),
    (part("adjusted", -(10**8) - 1, reason="count"), "invalid: qty: must be an integer other "
                                                     "than 0, from -100000000 to 100000000"),
    (order(lines=[{"sku": "S", "qty": 10**8 + 1, "unit_price": 1}]),
     "invalid: lines[0].qty: must be an integer from 1 to 100000000"),
    (tp("purchase.returned", order_id="O1", reason="r", lines=[{"sku": "S", "qty": 2**64}]),
     "invalid: lines[0].qty: must be an integer from 1 to 100000000"),
])
def test_quantities_are_bounded_at_10_to_the_8(obj: dict[str, Any], expected: str) -> None:
    assert outcome(obj) == expected


@pytest.mark.parametrize("char", ["\u0000", "\u0009", "\u000a", "\u001f", "\u007f", "\u0080",
                                  "\u0085", "\u009f"])
@pytest.mark.parametrize(("build", "field"), [
    (lambda v: part("received", 1, part_id=v), "part_id"),
    (lambda v: part("received", 1, location=v), "location"),
    (lambda v: part("transferred", 1, to_location=v), "to_location"),
    (lambda v: tp("purchase.delivered", customer_id=v, order_id="O1"), "customer_id"),
    (lambda v: tp("purchase.delivered", order_id=v), "order_id"),
    (lambda v: order(lines=[{"sku": v, "qty": 1, "unit_price": 1}]), "lines[0].sku"),
    (lambda v: invoice(invoice_id=v), "invoice_id"),
    (lambda v: tp("complaint.opened", case_id="K1", category="other",
                  subject={"type": "order", "id": v}), "subject.id"),
    (lambda v: repair(serial=v), "serial"),
    (lambda v: tp("purchase.delivered", order_id="O1", source=v), "source"),
])
def test_identifiers_refuse_every_control_character(build: Any, field: str, char: str) -> None:
    assert outcome(build(f"X{char}1")) == (
        f"invalid: {field}: must not contain control characters (found U+{ord(char):04X})")


@pytest.mark.parametrize("value", ["X\u00a0", "X\u2028", "X\u00a01", "😀", "a b", "\u00ff"])
def test_identifiers_keep_everything_else(value: str) -> None:
    assert outcome(part("received", 1, part_id=value)) == "accepted"


@pytest.mark.parametrize(("build", "field"), [
    (lambda v: part("adjusted", 1, reason=v), "reason"),
    (lambda v: tp("purchase.delivery_failed", order_id="O1", reason=v), "reason"),
    (lambda v: tp("complaint.resolved", case_id="K1", resolution=v), "resolution"),
    (lambda v: tp("complaint.opened", case_id="K1", category="other", text=v), "text"),
    (lambda v: {**repair(), "fault": v}, "fault"),
])
def test_free_text_refuses_nul_and_keeps_other_control_characters(build: Any, field: str) -> None:
    assert outcome(build("a\u0000b")) == f"invalid: {field}: must not contain NUL (U+0000)"
    assert outcome(build("line\r\nbreak\ttab\u2028\u0085\u007f")) == "accepted"


@pytest.mark.parametrize(("at", "expected"), [
    ("1900-01-01T00:00:00Z", "accepted"),
    ("9000-12-31T23:59:59.999999Z", "accepted"),
    ("1899-12-31T23:59:59Z", "invalid"),
    ("1900-01-01T00:30:00+01:00", "invalid"),  # 1899 in UTC
    ("9000-12-31T23:30:00-01:00", "invalid"),  # 9001 in UTC
    ("9001-01-01T00:00:00Z", "invalid"),
    ("0001-01-01T00:00:00Z", "invalid"),
    ("9999-12-31T23:59:59Z", "invalid"),
])
def test_occurred_at_stays_within_1900_to_9000_in_utc(at: str, expected: str) -> None:
    result = outcome(part("received", 1, at=at))
    assert result.split(":")[0] == expected
    if expected == "invalid":
        assert result == ("invalid: occurred_at: must fall within years 1900-9000 once "
                          "converted to UTC")


@pytest.mark.parametrize(("due", "expected"), [
    ("1900-01-01", "accepted"), ("9000-12-31", "accepted"),
    ("1899-12-31", "invalid: due_date: must fall within years 1900-9000"),
    ("9001-01-01", "invalid: due_date: must fall within years 1900-9000"),
    ("0001-01-01", "invalid: due_date: must fall within years 1900-9000"),
])
def test_due_date_stays_within_1900_to_9000(due: str, expected: str) -> None:
    assert outcome({**invoice(), "due_date": due}) == expected


# --- Sums the stock keeps: invalid_quantity at the ceiling ------------------------------------


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    m.decide(repair("R1"))
    m.decide(part("received", 10))
    return m


def stock(memory: Memory, location: str = "WH1") -> PartStock:
    found = memory.items[PartStock.id_for("P1", location)]
    assert isinstance(found, PartStock)
    return found


@pytest.mark.parametrize("move", [
    part("received", 6), part("returned", 6), part("adjusted", 6, reason="count"),
])
def test_on_hand_stops_at_the_ceiling(memory: Memory, move: dict[str, Any]) -> None:
    stock(memory).on_hand = MAX_STOCK - 5

    assert memory.refusal(move) == Refused("invalid_quantity")
    memory.decide({**move, "touchpoint_id": move["touchpoint_id"] + "b", "qty": 5})
    assert stock(memory).on_hand == MAX_STOCK


def test_a_count_down_at_the_ceiling_is_still_fine(memory: Memory) -> None:
    stock(memory).on_hand = MAX_STOCK
    memory.decide(part("adjusted", -3, reason="count"))
    assert stock(memory).on_hand == MAX_STOCK - 3


def test_a_transfer_stops_at_the_targets_ceiling_before_checking_the_source(
        memory: Memory) -> None:
    memory.decide(part("transferred", 1, to_location="WH2"))
    stock(memory, "WH2").on_hand = MAX_STOCK
    # both invalid_quantity (target full) and insufficient_stock (11 > 9): the first reason wins
    assert memory.refusal(part("transferred", 11, to_location="WH2")) == Refused(
        "invalid_quantity")
    assert memory.refusal(part("transferred", 1, to_location="WH2")) == Refused(
        "invalid_quantity")
    stock(memory, "WH2").on_hand = MAX_STOCK - 1
    memory.decide(part("transferred", 1, to_location="WH2"))
    assert (stock(memory).on_hand, stock(memory, "WH2").on_hand) == (8, MAX_STOCK)


def test_stock_outs_stop_at_the_backorder_ceiling(memory: Memory) -> None:
    stock(memory).backorders = {"R1": MAX_STOCK - 20}

    assert memory.refusal(part("reserved", 21, repair_id="R1")) == Refused("invalid_quantity")
    memory.decide(part("reserved", 20, repair_id="R1"))  # 20 > 10 available: a stock-out
    assert stock(memory).backordered == MAX_STOCK
    memory.decide(part("reserved", 4, repair_id="R1"))  # within availability: reserved
    assert stock(memory).reservations == {"R1": 4}


def test_issues_of_one_pair_and_day_stop_at_10_to_the_8(memory: Memory) -> None:
    memory.decide(part("received", 10**8))
    memory.decide(part("received", 10**8 - 10))
    memory.decide(part("issued", 10**8 - 1, repair_id="R1"))
    memory.decide(part("issued", 1, repair_id="R1", at="2026-03-01T23:59:59Z"))

    assert memory.refusal(part("issued", 1, repair_id="R1")) == Refused("invalid_quantity")
    # the day is the UTC day of occurred_at: an offset can move a line into the next one
    memory.decide(part("issued", 5, repair_id="R1", at="2026-03-01T23:00:00-01:00"))
    memory.decide(part("issued", 5, repair_id="R1", at="2026-02-28T10:00:00Z"))  # a late one
    assert stock(memory).issued_by_day == {
        date(2026, 3, 1): 10**8, date(2026, 3, 2): 5, date(2026, 2, 28): 5}


def test_the_daily_limit_comes_before_insufficient_stock(memory: Memory) -> None:
    stock(memory).issued_by_day[date(2026, 3, 1)] = MAX_ISSUED_PER_DAY
    assert memory.refusal(part("issued", 11, repair_id="R1")) == Refused("invalid_quantity")
