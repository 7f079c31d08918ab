"""The complaint case lifecycle of contract 2.2, decided in memory (no store).

opened -> contact_logged* -> resolved; resolved -> reopened | closed; reopened ->
contact_logged* -> resolved. Nothing after closed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from journey.domain.base import TouchpointEvent
from journey.domain.cases import Case
from tests.support import (
    Memory,
    Refused,
    case,
    event_fields,
    event_types,
    invoice,
    order,
    repair,
    tp,
)


def contact_logged(direction: str = "inbound", **kw: Any) -> dict[str, Any]:
    return tp("complaint.contact_logged", **{"case_id": "K1", **kw, "direction": direction})


def resolved(**kw: Any) -> dict[str, Any]:
    return tp("complaint.resolved", **{"case_id": "K1", "resolution": "refunded", **kw})


def reopened(**kw: Any) -> dict[str, Any]:
    return tp("complaint.reopened", **{"case_id": "K1", "reason": "not refunded", **kw})


def closed(**kw: Any) -> dict[str, Any]:
    return tp("complaint.closed", **{"case_id": "K1", **kw})


LIFECYCLE = {"contact_logged": contact_logged, "resolved": resolved, "reopened": reopened,
             "closed": closed}

SUBJECTS = {"order": order, "invoice": invoice, "repair": repair}


def steps(memory: Memory, *names: str) -> list[Any]:
    return [event for name in names for event in memory.decide(LIFECYCLE[name]())]


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    m.decide(case("K1"))
    return m


# --- Opening -----------------------------------------------------------------------------------


def test_opening_records_opened_with_its_defaults_and_the_envelope() -> None:
    memory = Memory()
    expected = {
        "touchpoint_id": "tp-k1",
        "occurred_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
        "customer_id": "C1",
        "channel": "phone",
        "source": None,
        "error": None,
        "case_id": "K1",
        "category": "delivery",
        "subject": None,
        "demand": "unknown",
        "text": None,
    }
    expected_state = ("K1", "C1", "open", 1)

    events = memory.decide(case("K1", touchpoint_id="tp-k1", at="2026-03-01T09:00:00+01:00",
                                category="delivery", channel="phone"))

    assert [Case.Opened] == event_types(events)
    assert expected == event_fields(events[0])
    c = memory.entity(Case, "K1")
    assert expected_state == (c.key, c.customer_id, c.status, c.version)


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_a_case_may_be_about_an_entity_of_the_same_customer(kind: str) -> None:
    memory = Memory()
    memory.decide(SUBJECTS[kind]("X1"))
    expected = ({"type": kind, "id": "X1"}, "failure", "it broke")

    events = memory.decide(case("K1", subject={"type": kind, "id": "X1"}, demand="failure",
                                text="it broke"))

    fields = event_fields(events[0])
    assert expected == (fields["subject"], fields["demand"], fields["text"])


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_a_case_about_an_unknown_entity_is_refused_as_unknown_entity(kind: str) -> None:
    memory = Memory()
    memory.decide(SUBJECTS[kind]("X1"))

    outcome = memory.refusal(case("K1", subject={"type": kind, "id": "X2"}))

    assert Refused("unknown_entity") == outcome


def test_a_subject_is_looked_up_by_its_type() -> None:
    memory = Memory()
    memory.decide(order("X1"))

    outcome = memory.refusal(case("K1", subject={"type": "invoice", "id": "X1"}))

    assert Refused("unknown_entity") == outcome


@pytest.mark.parametrize("kind", sorted(SUBJECTS))
def test_a_case_about_another_customers_entity_is_refused_as_customer_mismatch(
        kind: str) -> None:
    memory = Memory()
    memory.decide(SUBJECTS[kind]("X1", customer_id="C2"))

    outcome = memory.refusal(case("K1", subject={"type": kind, "id": "X1"}))

    assert Refused("customer_mismatch") == outcome


def test_opening_a_case_id_that_exists_is_refused_as_already_exists(memory: Memory) -> None:
    again_about_an_unknown_order = case("K1", subject={"type": "order", "id": "O404"})

    outcome = memory.refusal(again_about_an_unknown_order)

    assert Refused("already_exists") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_for_an_unknown_case_is_refused_as_unknown_entity(
        memory: Memory, type_: str) -> None:
    about_another_case = LIFECYCLE[type_](case_id="K2")

    outcome = memory.refusal(about_another_case)

    assert Refused("unknown_entity") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_of_another_customer_is_refused_as_customer_mismatch(
        memory: Memory, type_: str) -> None:
    if type_ in ("reopened", "closed"):
        steps(memory, "resolved")  # allowed for the owner

    outcome = memory.refusal(LIFECYCLE[type_](customer_id="C2"))

    assert Refused("customer_mismatch") == outcome


# --- Open: contacts, then resolved -------------------------------------------------------------


def test_an_open_case_logs_any_number_of_contacts_and_stays_open(memory: Memory) -> None:
    directions = ["inbound", "outbound", "inbound"]
    expected = [("K1", direction) for direction in directions]
    expected_state = ("open", 4)

    events = [event for direction in directions
              for event in memory.decide(contact_logged(direction))]

    assert [Case.ContactLogged] * 3 == event_types(events)
    assert expected == [(event_fields(e)["case_id"], event_fields(e)["direction"])
                        for e in events]
    assert expected_state == (memory.entity(Case, "K1").status, memory.entity(Case, "K1").version)


def test_an_open_case_may_be_resolved_with_a_satisfaction_score(memory: Memory) -> None:
    steps(memory, "contact_logged")
    expected = {"touchpoint_id": "tp-res", "occurred_at": datetime(2026, 3, 4, 16, tzinfo=UTC),
                "customer_id": "C1", "channel": None, "source": None, "error": None,
                "case_id": "K1", "resolution": "refund sent", "satisfaction": 4}
    expected_status = "resolved"

    events = memory.decide(resolved(touchpoint_id="tp-res", at="2026-03-04T16:00:00Z",
                                    resolution="refund sent", satisfaction=4))

    assert [Case.Resolved] == event_types(events)
    assert expected == event_fields(events[0])
    assert expected_status == memory.entity(Case, "K1").status


def test_a_case_may_be_resolved_without_any_contact_and_without_a_score(memory: Memory) -> None:
    events = memory.decide(resolved())

    assert [Case.Resolved] == event_types(events)
    assert event_fields(events[0])["satisfaction"] is None


@pytest.mark.parametrize("type_", ["reopened", "closed"])
def test_an_open_case_refuses_reopened_and_closed(memory: Memory, type_: str) -> None:
    steps(memory, "contact_logged")

    outcome = memory.refusal(LIFECYCLE[type_]())

    assert Refused("invalid_transition") == outcome


# --- Resolved: reopened or closed --------------------------------------------------------------


@pytest.mark.parametrize("type_", ["contact_logged", "resolved"])
def test_a_resolved_case_refuses_contacts_and_another_resolution(memory: Memory,
                                                                 type_: str) -> None:
    steps(memory, "resolved")

    outcome = memory.refusal(LIFECYCLE[type_]())

    assert Refused("invalid_transition") == outcome


def test_a_resolved_case_may_be_reopened_and_the_event_keeps_the_reason(memory: Memory) -> None:
    steps(memory, "resolved")
    expected = ("tp-ro", "K1", "still charged", "open")

    events = memory.decide(reopened(touchpoint_id="tp-ro", reason="still charged"))

    assert [Case.Reopened] == event_types(events)
    fields = event_fields(events[0])
    assert expected == (fields["touchpoint_id"], fields["case_id"], fields["reason"],
                        memory.entity(Case, "K1").status)


def test_a_resolved_case_may_be_closed(memory: Memory) -> None:
    steps(memory, "resolved")
    expected = ("tp-cl", "K1", "closed")

    events = memory.decide(closed(touchpoint_id="tp-cl"))

    assert [Case.Closed] == event_types(events)
    fields = event_fields(events[0])
    case = memory.entity(Case, "K1")
    assert expected == (fields["touchpoint_id"], fields["case_id"], case.status)


# --- Reopened: contacts, resolved again --------------------------------------------------------


def test_a_reopened_case_logs_contacts_resolves_again_and_may_then_be_closed(
        memory: Memory) -> None:
    steps(memory, "resolved", "reopened")
    expected = [Case.ContactLogged, Case.ContactLogged, Case.Resolved, Case.Reopened,
                Case.Resolved, Case.Closed]
    expected_state = ("closed", 9)

    events = steps(memory, "contact_logged", "contact_logged", "resolved", "reopened",
                   "resolved", "closed")

    assert expected == event_types(events)
    assert expected_state == (memory.entity(Case, "K1").status, memory.entity(Case, "K1").version)


@pytest.mark.parametrize("type_", ["reopened", "closed"])
def test_a_reopened_case_refuses_another_reopening_and_closing(memory: Memory,
                                                               type_: str) -> None:
    steps(memory, "resolved", "reopened")

    outcome = memory.refusal(LIFECYCLE[type_]())

    assert Refused("invalid_transition") == outcome


# --- Closed: nothing ---------------------------------------------------------------------------


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_closed_case_refuses_everything(memory: Memory, type_: str) -> None:
    steps(memory, "resolved", "closed")
    expected = ("closed", 3)

    outcome = memory.refusal(LIFECYCLE[type_]())

    assert Refused("invalid_transition") == outcome
    assert expected == (memory.entity(Case, "K1").status, memory.entity(Case, "K1").version)
    assert not memory.entity(Case, "K1").collect_events()


def test_customer_mismatch_is_given_before_invalid_transition(memory: Memory) -> None:
    steps(memory, "resolved", "closed")

    outcome = memory.refusal(contact_logged(customer_id="C2"))

    assert Refused("customer_mismatch") == outcome


# --- The events themselves ---------------------------------------------------------------------


def test_every_case_event_is_nested_in_the_case_and_named_in_the_past_tense() -> None:
    expected = {"Opened", "ContactLogged", "Resolved", "Reopened", "Closed"}

    nested = {name for name, value in vars(Case).items()
              if isinstance(value, type) and issubclass(value, TouchpointEvent)}

    assert expected == nested
    assert all(getattr(Case, name).__qualname__ == f"Case.{name}" for name in nested)


@pytest.mark.parametrize("last", ["contact_logged", "resolved", "reopened", "closed"])
def test_state_replayed_from_events_equals_state_decided(last: str) -> None:
    memory = Memory()
    path = {"contact_logged": ["contact_logged"],
            "resolved": ["contact_logged", "resolved"],
            "reopened": ["resolved", "reopened"],
            "closed": ["resolved", "reopened", "resolved", "closed"]}[last]
    history = memory.decide(case("K1")) + steps(memory, *path)

    replayed: Any = None
    for event in history:
        replayed = event.mutate(replayed)

    live = memory.entity(Case, "K1")
    assert (live.key, live.customer_id, live.status, live.version) == (
        replayed.key, replayed.customer_id, replayed.status, replayed.version)
