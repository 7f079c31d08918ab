"""The order lifecycle of contract 2.2, decided in memory (no store).

placed -> delivered | delivery_failed | cancelled; delivery_failed -> delivered |
delivery_failed | cancelled; delivered -> returned (repeatable while the returned quantity per
sku stays within the ordered one). Nothing after cancelled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from journey.domain.base import TouchpointEvent
from journey.domain.orders import Order
from tests.support import Memory, Refused, event_fields, event_types, order, tp

LINES = [{"sku": "S1", "qty": 2, "unit_price": "9.99"}, {"sku": "S2", "qty": 1, "unit_price": 5}]


def delivered(**kw: Any) -> dict[str, Any]:
    return tp("purchase.delivered", **{"order_id": "O1", **kw})


def delivery_failed(**kw: Any) -> dict[str, Any]:
    return tp("purchase.delivery_failed", **{"order_id": "O1", "reason": "nobody home", **kw})


def cancelled(**kw: Any) -> dict[str, Any]:
    return tp("purchase.cancelled", **{"order_id": "O1", "reason": "changed mind", **kw})


def returned(*lines: tuple[str, int], **kw: Any) -> dict[str, Any]:
    return tp("purchase.returned", **{"order_id": "O1", "reason": "broken", **kw,
                                      "lines": [{"sku": sku, "qty": qty} for sku, qty in lines]})


LIFECYCLE = {
    "delivered": delivered,
    "delivery_failed": delivery_failed,
    "cancelled": cancelled,
    "returned": lambda **kw: returned(("S1", 1), **kw),
}


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    m.decide(order("O1", lines=LINES))
    return m


# --- Placing -----------------------------------------------------------------------------------


def test_placing_an_order_records_placed_with_its_lines_and_the_envelope() -> None:
    memory = Memory()
    placed = order("O1", touchpoint_id="tp-o1", at="2026-03-01T11:00:00+01:00", lines=LINES,
                   channel="web", source="shop", error="price_glitch")
    expected = {
        "touchpoint_id": "tp-o1",
        "occurred_at": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "customer_id": "C1",
        "channel": "web",
        "source": "shop",
        "error": "price_glitch",
        "order_id": "O1",
        "lines": [{"sku": "S1", "qty": 2, "unit_price": Decimal("9.99")},
                  {"sku": "S2", "qty": 1, "unit_price": Decimal("5")}],
        "currency": "EUR",
    }

    events = memory.decide(placed)

    assert [Order.Placed] == event_types(events)
    assert expected == event_fields(events[0])
    assert Order.id_for("O1") == events[0].originator_id


def test_a_new_order_is_placed_for_its_customer_with_the_quantity_ordered_per_sku() -> None:
    memory = Memory()
    lines = [{"sku": "S1", "qty": 2, "unit_price": "1"}, {"sku": "S2", "qty": 4, "unit_price": "1"},
             {"sku": "S1", "qty": 3, "unit_price": "2"}]
    expected = ("O1", "C7", "placed", {"S1": 5, "S2": 4}, {}, 1)

    memory.decide(order("O1", lines=lines, customer_id="C7"))

    o = memory.entity(Order, "O1")
    assert expected == (o.key, o.customer_id, o.status, o.ordered, o.returned, o.version)


def test_placing_an_order_id_that_exists_is_refused_as_already_exists(memory: Memory) -> None:
    again = order("O1", lines=[{"sku": "S9", "qty": 1, "unit_price": "1"}])

    outcome = memory.refusal(again)

    assert Refused("already_exists") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_for_an_unknown_order_is_refused_as_unknown_entity(
        memory: Memory, type_: str) -> None:
    about_another_order = LIFECYCLE[type_](order_id="O2")

    outcome = memory.refusal(about_another_order)

    assert Refused("unknown_entity") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_of_another_customer_is_refused_as_customer_mismatch(
        memory: Memory, type_: str) -> None:
    if type_ == "returned":
        memory.decide(delivered())  # a return would be allowed for the owner

    outcome = memory.refusal(LIFECYCLE[type_](customer_id="C2"))

    assert Refused("customer_mismatch") == outcome


# --- From placed and from delivery_failed ------------------------------------------------------


def test_a_placed_order_may_be_delivered(memory: Memory) -> None:
    expected = {"touchpoint_id": "tp-d", "occurred_at": datetime(2026, 3, 3, 9, 30, tzinfo=UTC),
                "customer_id": "C1", "channel": None, "source": None, "error": None,
                "order_id": "O1"}
    expected_state = ("delivered", 2)

    events = memory.decide(delivered(touchpoint_id="tp-d", at="2026-03-03T09:30:00Z"))

    assert [Order.Delivered] == event_types(events)
    assert expected == event_fields(events[0])
    assert expected_state == (memory.entity(Order, "O1").status, memory.entity(Order, "O1").version)


def test_a_placed_order_may_fail_delivery_and_the_event_keeps_the_reason(memory: Memory) -> None:
    expected = ("tp-f", "O1", "address unknown", "delivery_failed")

    events = memory.decide(delivery_failed(touchpoint_id="tp-f", reason="address unknown"))

    assert [Order.DeliveryFailed] == event_types(events)
    fields = event_fields(events[0])
    assert expected == (fields["touchpoint_id"], fields["order_id"], fields["reason"],
                        memory.entity(Order, "O1").status)


def test_a_placed_order_may_be_cancelled_and_the_event_keeps_the_reason(memory: Memory) -> None:
    expected = ("tp-c", "O1", "too slow", "cancelled")

    events = memory.decide(cancelled(touchpoint_id="tp-c", reason="too slow"))

    assert [Order.Cancelled] == event_types(events)
    fields = event_fields(events[0])
    assert expected == (fields["touchpoint_id"], fields["order_id"], fields["reason"],
                        memory.entity(Order, "O1").status)


def test_a_failed_delivery_may_fail_again_and_then_be_delivered(memory: Memory) -> None:
    memory.decide(delivery_failed())
    expected = ("delivered", 4)

    again = memory.decide(delivery_failed())
    at_last = memory.decide(delivered())

    assert [Order.DeliveryFailed, Order.Delivered] == event_types(again + at_last)
    assert expected == (memory.entity(Order, "O1").status, memory.entity(Order, "O1").version)


def test_a_failed_delivery_may_be_cancelled(memory: Memory) -> None:
    memory.decide(delivery_failed())
    expected = "cancelled"

    events = memory.decide(cancelled())

    assert [Order.Cancelled] == event_types(events)
    assert expected == memory.entity(Order, "O1").status


@pytest.mark.parametrize("before", [[], ["delivery_failed"]], ids=["placed", "delivery_failed"])
def test_an_order_not_yet_delivered_refuses_a_return(memory: Memory, before: list[str]) -> None:
    for type_ in before:
        memory.decide(LIFECYCLE[type_]())

    outcome = memory.refusal(returned(("S1", 1)))

    assert Refused("invalid_transition") == outcome


@pytest.mark.parametrize("type_", ["delivered", "delivery_failed", "cancelled"])
def test_a_delivered_order_refuses_another_delivery_outcome_and_a_cancellation(
        memory: Memory, type_: str) -> None:
    memory.decide(delivered())
    expected = "delivered"

    outcome = memory.refusal(LIFECYCLE[type_]())

    assert Refused("invalid_transition") == outcome
    assert expected == memory.entity(Order, "O1").status


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
@pytest.mark.parametrize("before", [[], ["delivery_failed"]], ids=["placed", "delivery_failed"])
def test_a_cancelled_order_refuses_everything(memory: Memory, before: list[str],
                                              type_: str) -> None:
    for earlier in [*before, "cancelled"]:
        memory.decide(LIFECYCLE[earlier]())
    expected = "cancelled"

    outcome = memory.refusal(LIFECYCLE[type_]())

    assert Refused("invalid_transition") == outcome
    assert expected == memory.entity(Order, "O1").status


# --- Returns -----------------------------------------------------------------------------------


def test_a_return_records_its_lines_and_reason(memory: Memory) -> None:
    memory.decide(delivered())
    expected = ("tp-r", "O1", [{"sku": "S2", "qty": 1}, {"sku": "S1", "qty": 1}], "too small")

    events = memory.decide(returned(("S2", 1), ("S1", 1), touchpoint_id="tp-r",
                                    reason="too small"))

    assert [Order.Returned] == event_types(events)
    fields = event_fields(events[0])
    assert expected == (fields["touchpoint_id"], fields["order_id"], fields["lines"],
                        fields["reason"])


def test_returns_repeat_until_the_ordered_quantity_of_each_sku_is_back(memory: Memory) -> None:
    memory.decide(delivered())
    expected = ("delivered", {"S1": 2, "S2": 1})

    first = memory.decide(returned(("S1", 1)))
    second = memory.decide(returned(("S1", 1)))
    other_sku = memory.decide(returned(("S2", 1)))

    assert [Order.Returned] * 3 == event_types(first + second + other_sku)
    assert expected == (memory.entity(Order, "O1").status, memory.entity(Order, "O1").returned)
    assert Refused("invalid_quantity") == memory.refusal(returned(("S1", 1)))
    assert Refused("invalid_quantity") == memory.refusal(returned(("S2", 1)))


def test_a_return_beyond_what_is_left_of_an_sku_is_refused_as_invalid_quantity(
        memory: Memory) -> None:
    memory.decide(delivered())
    memory.decide(returned(("S1", 1)))
    expected = {"S1": 1}

    outcome = memory.refusal(returned(("S1", 2)))

    assert Refused("invalid_quantity") == outcome
    assert expected == memory.entity(Order, "O1").returned


def test_a_return_naming_an_sku_that_was_not_ordered_is_refused_as_invalid_quantity(
        memory: Memory) -> None:
    memory.decide(delivered())
    expected: dict[str, int] = {}  # the valid S1 line is not taken back either

    outcome = memory.refusal(returned(("S1", 1), ("S3", 1)))

    assert Refused("invalid_quantity") == outcome
    assert expected == memory.entity(Order, "O1").returned


def test_lines_of_one_return_with_the_same_sku_count_together(memory: Memory) -> None:
    memory.decide(delivered())
    three_of_the_two_ordered = returned(("S1", 1), ("S1", 1), ("S1", 1))

    outcome = memory.refusal(three_of_the_two_ordered)

    assert Refused("invalid_quantity") == outcome


# --- Precedence, atomicity, the events themselves ----------------------------------------------


def test_customer_mismatch_is_given_before_invalid_transition(memory: Memory) -> None:
    memory.decide(cancelled())

    outcome = memory.refusal(delivered(customer_id="C2"))

    assert Refused("customer_mismatch") == outcome


def test_invalid_transition_is_given_before_invalid_quantity(memory: Memory) -> None:
    too_many_of_an_undelivered_order = returned(("S1", 5))

    outcome = memory.refusal(too_many_of_an_undelivered_order)

    assert Refused("invalid_transition") == outcome


def test_a_refused_touchpoint_changes_nothing(memory: Memory) -> None:
    memory.decide(delivered())
    memory.decide(returned(("S1", 1)))
    o = memory.entity(Order, "O1")
    expected = (o.version, o.status, dict(o.returned))

    memory.refusal(returned(("S1", 1), ("S2", 2)))
    memory.refusal(cancelled())

    assert expected == (o.version, o.status, o.returned)
    assert not o.collect_events()


def test_every_order_event_is_nested_in_the_order_and_named_in_the_past_tense() -> None:
    expected = {"Placed", "Delivered", "DeliveryFailed", "Returned", "Cancelled"}

    nested = {name for name, value in vars(Order).items()
              if isinstance(value, type) and issubclass(value, TouchpointEvent)}

    assert expected == nested
    assert all(getattr(Order, name).__qualname__ == f"Order.{name}" for name in nested)


def test_state_replayed_from_events_equals_state_decided() -> None:
    memory = Memory()
    history = memory.decide(order("O1", lines=LINES))
    for touchpoint in (delivery_failed(), delivered(), returned(("S1", 1)),
                       returned(("S2", 1), ("S1", 1))):
        history += memory.decide(touchpoint)

    replayed: Any = None
    for event in history:
        replayed = event.mutate(replayed)

    live = memory.entity(Order, "O1")
    assert (live.key, live.customer_id, live.status, live.ordered, live.returned, live.version) == (
        replayed.key, replayed.customer_id, replayed.status, replayed.ordered, replayed.returned,
        replayed.version)
