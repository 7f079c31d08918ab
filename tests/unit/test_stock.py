"""The stock rules of contract 2.3 as state, folded in memory (no store)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from journey.domain.decide import Decider
from journey.domain.errors import TouchpointRejected
from journey.domain.stock import PartStock
from journey.schemas.parsing import Parsed, parse_line
from tests.support import line, part, repair


class Memory:
    """Aggregates in a dict: enough for the decider, nothing persisted."""

    def __init__(self) -> None:
        self.items: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.items.get(aggregate_id)


def decide(memory: Memory, obj: dict[str, Any]) -> None:
    parsed = parse_line(line(obj))
    assert isinstance(parsed, Parsed), parsed
    for aggregate in Decider(memory).decide(parsed.touchpoint):
        memory.items[aggregate.id] = aggregate


def stock(memory: Memory, location: str = "WH1") -> PartStock:
    found = memory.get(PartStock.id_for("P1", location))
    assert isinstance(found, PartStock)
    return found


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    decide(m, repair("R1"))
    decide(m, repair("R2"))
    return m


def test_reservation_within_availability_reserves_for_the_repair(memory: Memory) -> None:
    decide(memory, part("received", 5))
    decide(memory, part("reserved", 3, repair_id="R1"))
    s = stock(memory)
    assert (s.on_hand, s.reserved, s.available, s.backordered) == (5, 3, 2, 0)
    assert s.reservations == {"R1": 3}


def test_reservation_beyond_stock_is_recorded_as_stock_out(memory: Memory) -> None:
    decide(memory, part("received", 1))
    decide(memory, part("reserved", 2, repair_id="R1"))
    s = stock(memory)
    assert (s.on_hand, s.reserved, s.backordered) == (1, 0, 2)
    assert isinstance(s.collect_events()[-1], PartStock.Backordered)


def test_a_later_reservation_or_issue_lowers_the_open_backorder(memory: Memory) -> None:
    decide(memory, part("reserved", 3, repair_id="R1"))  # stock-out: backorder 3
    decide(memory, part("received", 5))
    decide(memory, part("reserved", 2, repair_id="R1"))  # backorder 3 -> 1
    assert stock(memory).backorders == {"R1": 1}
    decide(memory, part("issued", 3, repair_id="R1"))  # reservation 2 -> 0, backorder 1 -> 0
    s = stock(memory)
    assert (s.on_hand, s.reserved, s.backordered) == (2, 0, 0)


def test_an_issue_lowers_the_reservation_by_at_most_what_was_reserved(memory: Memory) -> None:
    decide(memory, part("received", 5))
    decide(memory, part("reserved", 1, repair_id="R1"))
    decide(memory, part("reserved", 2, repair_id="R2"))
    decide(memory, part("issued", 3, repair_id="R1"))
    s = stock(memory)
    assert (s.on_hand, s.reservations) == (2, {"R2": 2})


def test_a_downward_count_may_leave_available_negative_but_not_on_hand(memory: Memory) -> None:
    decide(memory, part("received", 3))
    decide(memory, part("reserved", 3, repair_id="R1"))
    decide(memory, part("adjusted", -2, reason="count"))
    assert (stock(memory).on_hand, stock(memory).available) == (1, -2)
    with pytest.raises(TouchpointRejected) as refused:
        decide(memory, part("adjusted", -2, reason="count"))
    assert refused.value.reason == "insufficient_stock"


def test_a_transfer_moves_on_hand_between_locations_atomically(memory: Memory) -> None:
    decide(memory, part("received", 4))
    decide(memory, part("reserved", 1, repair_id="R1"))
    with pytest.raises(TouchpointRejected):
        decide(memory, part("transferred", 4, to_location="VAN1"))
    assert memory.get(PartStock.id_for("P1", "VAN1")) is None  # nothing half-done
    decide(memory, part("transferred", 3, to_location="VAN1"))
    assert (stock(memory).on_hand, stock(memory, "VAN1").on_hand) == (1, 3)


def test_a_refused_movement_at_a_new_location_leaves_no_stock_record(memory: Memory) -> None:
    with pytest.raises(TouchpointRejected) as refused:
        decide(memory, part("issued", 1, repair_id="R1", location="NEW"))
    assert refused.value.reason == "insufficient_stock"
    assert memory.get(PartStock.id_for("P1", "NEW")) is None


def test_state_replayed_from_events_equals_state_decided(memory: Memory) -> None:
    decide(memory, part("received", 4))
    decide(memory, part("reserved", 6, repair_id="R2"))
    decide(memory, part("reserved", 2, repair_id="R1"))
    decide(memory, part("released", 1, repair_id="R1"))
    decide(memory, part("transferred", 1, to_location="VAN1"))
    live = stock(memory)
    replayed: Any = None
    for event in live.collect_events():
        replayed = event.mutate(replayed)
    assert (replayed.on_hand, replayed.reservations, replayed.backorders) == (
        live.on_hand, live.reservations, live.backorders)
