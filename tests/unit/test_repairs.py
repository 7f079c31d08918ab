"""The repair lifecycle of contract 2.2, decided in memory (no store).

requested -> completed; a completion with outcome ``not_fixed`` leaves the repair open (it may
complete again); with ``fixed`` or ``no_fault_found`` it is done and may only be returned, once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from journey.domain.base import TouchpointEvent
from journey.domain.repairs import Repair
from tests.support import Memory, Refused, case, event_fields, event_types, repair, tp


def completed(outcome: str = "fixed", **kw: Any) -> dict[str, Any]:
    return tp("repair.completed", **{"repair_id": "R1", **kw, "outcome": outcome})


def returned(**kw: Any) -> dict[str, Any]:
    return tp("repair.returned", **{"repair_id": "R1", **kw})


LIFECYCLE = {"completed": completed, "returned": returned}

DONE = ["fixed", "no_fault_found"]


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    m.decide(repair("R1"))
    return m


# --- Requesting --------------------------------------------------------------------------------


def test_requesting_records_requested_with_the_device_and_the_envelope() -> None:
    memory = Memory()
    expected = {
        "touchpoint_id": "tp-r1",
        "occurred_at": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "customer_id": "C1",
        "channel": "field",
        "source": None,
        "error": None,
        "repair_id": "R1",
        "serial": "SN-42",
        "fault": "no power",
        "warranty": True,
        "case_id": None,
    }
    expected_state = ("R1", "C1", "open", 1)

    events = memory.decide(repair("R1", touchpoint_id="tp-r1", serial="SN-42", channel="field"))

    assert [Repair.Requested] == event_types(events)
    assert expected == event_fields(events[0])
    r = memory.entity(Repair, "R1")
    assert expected_state == (r.key, r.customer_id, r.status, r.version)


def test_a_repair_may_name_a_case_of_the_same_customer() -> None:
    memory = Memory()
    memory.decide(case("K1"))
    expected = "K1"

    events = memory.decide(repair("R1", case_id="K1"))

    assert expected == event_fields(events[0])["case_id"]


def test_a_repair_naming_an_unknown_case_is_refused_as_unknown_entity() -> None:
    memory = Memory()

    outcome = memory.refusal(repair("R1", case_id="K404"))

    assert Refused("unknown_entity") == outcome


def test_a_repair_naming_a_case_of_another_customer_is_refused_as_customer_mismatch() -> None:
    memory = Memory()
    memory.decide(case("K1", customer_id="C2"))

    outcome = memory.refusal(repair("R1", case_id="K1"))

    assert Refused("customer_mismatch") == outcome


def test_requesting_a_repair_id_that_exists_is_refused_as_already_exists(memory: Memory) -> None:
    again_naming_an_unknown_case = repair("R1", serial="SN2", case_id="K404")

    outcome = memory.refusal(again_naming_an_unknown_case)

    assert Refused("already_exists") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_for_an_unknown_repair_is_refused_as_unknown_entity(
        memory: Memory, type_: str) -> None:
    about_another_repair = LIFECYCLE[type_](repair_id="R2")

    outcome = memory.refusal(about_another_repair)

    assert Refused("unknown_entity") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_of_another_customer_is_refused_as_customer_mismatch(
        memory: Memory, type_: str) -> None:
    if type_ == "returned":
        memory.decide(completed("fixed"))  # a return would be allowed for the owner

    outcome = memory.refusal(LIFECYCLE[type_](customer_id="C2"))

    assert Refused("customer_mismatch") == outcome


# --- Completing --------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["fixed", "not_fixed", "no_fault_found"])
def test_a_completion_records_completed_with_its_outcome(memory: Memory, outcome: str) -> None:
    expected = {"touchpoint_id": "tp-c", "occurred_at": datetime(2026, 3, 2, 15, tzinfo=UTC),
                "customer_id": "C1", "channel": None, "source": None, "error": None,
                "repair_id": "R1", "outcome": outcome}

    events = memory.decide(completed(outcome, touchpoint_id="tp-c", at="2026-03-02T15:00:00Z"))

    assert [Repair.Completed] == event_types(events)
    assert expected == event_fields(events[0])


def test_a_repair_not_fixed_stays_open_and_may_complete_again_any_number_of_times(
        memory: Memory) -> None:
    expected = ([Repair.Completed] * 4, "open", 5)

    events = [event for _ in range(4) for event in memory.decide(completed("not_fixed"))]

    repair_ = memory.entity(Repair, "R1")
    assert expected == (event_types(events), repair_.status, repair_.version)


@pytest.mark.parametrize("outcome", DONE)
def test_a_repair_not_fixed_may_later_be_completed_for_good(memory: Memory,
                                                            outcome: str) -> None:
    memory.decide(completed("not_fixed"))
    expected = "done"

    events = memory.decide(completed(outcome))

    assert [Repair.Completed] == event_types(events)
    assert expected == memory.entity(Repair, "R1").status


@pytest.mark.parametrize("outcome", DONE)
def test_a_repair_fixed_or_without_fault_refuses_another_completion(memory: Memory,
                                                                    outcome: str) -> None:
    memory.decide(completed(outcome))

    refusals = [memory.refusal(completed(again)) for again in ("fixed", "not_fixed",
                                                               "no_fault_found")]

    assert [Refused("invalid_transition")] * 3 == refusals


# --- Returning ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", DONE)
def test_a_repair_fixed_or_without_fault_may_be_returned(memory: Memory, outcome: str) -> None:
    memory.decide(completed(outcome))
    expected = ({"touchpoint_id": "tp-back", "occurred_at": datetime(2026, 3, 1, 10, tzinfo=UTC),
                 "customer_id": "C1", "channel": None, "source": None, "error": None,
                 "repair_id": "R1"}, "returned")

    events = memory.decide(returned(touchpoint_id="tp-back"))

    assert [Repair.Returned] == event_types(events)
    assert expected == (event_fields(events[0]), memory.entity(Repair, "R1").status)


@pytest.mark.parametrize("completions", [[], ["not_fixed"], ["not_fixed", "not_fixed"]],
                         ids=["requested", "not_fixed", "not_fixed_twice"])
def test_a_repair_still_open_refuses_to_be_returned(memory: Memory,
                                                    completions: list[str]) -> None:
    for outcome in completions:
        memory.decide(completed(outcome))

    outcome_of_return = memory.refusal(returned())

    assert Refused("invalid_transition") == outcome_of_return


def test_a_repair_is_returned_only_once(memory: Memory) -> None:
    memory.decide(completed("fixed"))
    memory.decide(returned())
    expected = ("returned", 3)

    outcome = memory.refusal(returned())

    assert Refused("invalid_transition") == outcome
    assert expected == (memory.entity(Repair, "R1").status, memory.entity(Repair, "R1").version)
    assert not memory.entity(Repair, "R1").collect_events()


@pytest.mark.parametrize("outcome", ["fixed", "not_fixed", "no_fault_found"])
def test_a_returned_repair_refuses_any_completion(memory: Memory, outcome: str) -> None:
    memory.decide(completed("fixed"))
    memory.decide(returned())

    refusal = memory.refusal(completed(outcome))

    assert Refused("invalid_transition") == refusal


def test_customer_mismatch_is_given_before_invalid_transition(memory: Memory) -> None:
    memory.decide(completed("fixed"))
    memory.decide(returned())

    outcome = memory.refusal(returned(customer_id="C2"))

    assert Refused("customer_mismatch") == outcome


# --- The events themselves ---------------------------------------------------------------------


def test_every_repair_event_is_nested_in_the_repair_and_named_in_the_past_tense() -> None:
    expected = {"Requested", "Completed", "Returned"}

    nested = {name for name, value in vars(Repair).items()
              if isinstance(value, type) and issubclass(value, TouchpointEvent)}

    assert expected == nested
    assert all(getattr(Repair, name).__qualname__ == f"Repair.{name}" for name in nested)


@pytest.mark.parametrize("path", [["not_fixed"], ["not_fixed", "no_fault_found"],
                                  ["fixed", "returned"]], ids="-".join)
def test_state_replayed_from_events_equals_state_decided(path: list[str]) -> None:
    memory = Memory()
    history = memory.decide(repair("R1"))
    for step in path:
        history += memory.decide(returned() if step == "returned" else completed(step))

    replayed: Any = None
    for event in history:
        replayed = event.mutate(replayed)

    live = memory.entity(Repair, "R1")
    assert (live.key, live.customer_id, live.status, live.version) == (
        replayed.key, replayed.customer_id, replayed.status, replayed.version)
