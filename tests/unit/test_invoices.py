"""The invoice lifecycle of contract 2.2, decided in memory (no store).

After ``issued``, any number of ``paid``, ``reminder_sent`` and ``corrected``, in any order.
The only refusals are those of the decider: an existing id, an unknown invoice or order, a
touchpoint of another customer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from journey.domain.base import TouchpointEvent
from journey.domain.invoices import Invoice
from tests.support import Memory, Refused, event_fields, event_types, invoice, order, tp


def paid(amount: str = "10.00", **kw: Any) -> dict[str, Any]:
    return tp("invoice.paid", **{"invoice_id": "I1", **kw, "amount": amount})


def reminder_sent(**kw: Any) -> dict[str, Any]:
    return tp("invoice.reminder_sent", **{"invoice_id": "I1", **kw})


def corrected(amount_delta: str = "-2.50", error_type: str = "wrong_amount",
              **kw: Any) -> dict[str, Any]:
    return tp("invoice.corrected", **{"invoice_id": "I1", **kw, "error_type": error_type,
                                      "amount_delta": amount_delta})


LIFECYCLE = {"paid": paid, "reminder_sent": reminder_sent, "corrected": corrected}


@pytest.fixture
def memory() -> Memory:
    m = Memory()
    m.decide(invoice("I1"))
    return m


# --- Issuing -----------------------------------------------------------------------------------


def test_issuing_records_issued_with_the_exact_amount_the_due_date_and_the_envelope() -> None:
    memory = Memory()
    issued = tp("invoice.issued", at="2026-03-01T22:30:00-05:00", touchpoint_id="tp-i1",
                invoice_id="I1", amount="120.10", currency="EUR", due_date="2026-03-31",
                channel="email", source="billing")
    expected = {
        "touchpoint_id": "tp-i1",
        "occurred_at": datetime(2026, 3, 2, 3, 30, tzinfo=UTC),
        "customer_id": "C1",
        "channel": "email",
        "source": "billing",
        "error": None,
        "invoice_id": "I1",
        "amount": Decimal("120.10"),
        "currency": "EUR",
        "due_date": date(2026, 3, 31),
        "order_id": None,
        "terms_days": 29,  # from March 2nd, the UTC day of issue
    }

    events = memory.decide(issued)

    assert [Invoice.Issued] == event_types(events)
    assert expected == event_fields(events[0])
    assert Invoice.id_for("I1") == events[0].originator_id


def test_a_new_invoice_belongs_to_the_customer_it_was_issued_to() -> None:
    memory = Memory()
    expected = ("I1", "C7", 1)

    memory.decide(invoice("I1", customer_id="C7"))

    i = memory.entity(Invoice, "I1")
    assert expected == (i.key, i.customer_id, i.version)


def test_an_invoice_may_name_an_order_of_the_same_customer() -> None:
    memory = Memory()
    memory.decide(order("O1"))
    expected = "O1"

    events = memory.decide(invoice("I1", order_id="O1"))

    assert [Invoice.Issued] == event_types(events)
    assert expected == event_fields(events[0])["order_id"]


def test_issuing_an_invoice_id_that_exists_is_refused_as_already_exists(memory: Memory) -> None:
    again = invoice("I1", customer_id="C2")  # another customer, too: already_exists comes first

    outcome = memory.refusal(again)

    assert Refused("already_exists") == outcome


def test_an_invoice_naming_an_unknown_order_is_refused_as_unknown_entity() -> None:
    memory = Memory()

    outcome = memory.refusal(invoice("I1", order_id="O404"))

    assert Refused("unknown_entity") == outcome
    assert memory.get(Invoice.id_for("I1")) is None


def test_an_invoice_naming_an_order_of_another_customer_is_refused_as_customer_mismatch() -> None:
    memory = Memory()
    memory.decide(order("O1", customer_id="C2"))

    outcome = memory.refusal(invoice("I1", order_id="O1"))

    assert Refused("customer_mismatch") == outcome


def test_already_exists_is_given_before_an_unknown_order(memory: Memory) -> None:
    existing_id_and_unknown_order = invoice("I1", order_id="O404")

    outcome = memory.refusal(existing_id_and_unknown_order)

    assert Refused("already_exists") == outcome


def test_an_unknown_order_is_given_before_a_customer_mismatch() -> None:
    memory = Memory()

    outcome = memory.refusal(invoice("I1", order_id="O404", customer_id="C2"))

    assert Refused("unknown_entity") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_for_an_unknown_invoice_is_refused_as_unknown_entity(
        memory: Memory, type_: str) -> None:
    about_another_invoice = LIFECYCLE[type_](invoice_id="I2")

    outcome = memory.refusal(about_another_invoice)

    assert Refused("unknown_entity") == outcome


@pytest.mark.parametrize("type_", sorted(LIFECYCLE))
def test_a_lifecycle_touchpoint_of_another_customer_is_refused_as_customer_mismatch(
        memory: Memory, type_: str) -> None:
    expected = 1

    outcome = memory.refusal(LIFECYCLE[type_](customer_id="C2"))

    assert Refused("customer_mismatch") == outcome
    assert expected == memory.entity(Invoice, "I1").version
    assert not memory.entity(Invoice, "I1").collect_events()


# --- After issued ------------------------------------------------------------------------------


def test_a_payment_records_paid_with_its_exact_amount(memory: Memory) -> None:
    expected = {"touchpoint_id": "tp-p", "occurred_at": datetime(2026, 3, 5, 8, tzinfo=UTC),
                "customer_id": "C1", "channel": None, "source": None, "error": None,
                "invoice_id": "I1", "amount": Decimal("0.10")}

    events = memory.decide(paid("0.10", touchpoint_id="tp-p", at="2026-03-05T08:00:00Z"))

    assert [Invoice.Paid] == event_types(events)
    assert expected == event_fields(events[0])
    assert isinstance(event_fields(events[0])["amount"], Decimal)


def test_a_reminder_records_reminder_sent(memory: Memory) -> None:
    expected = {"touchpoint_id": "tp-r", "occurred_at": datetime(2026, 3, 1, 10, tzinfo=UTC),
                "customer_id": "C1", "channel": "email", "source": None, "error": None,
                "invoice_id": "I1"}

    events = memory.decide(reminder_sent(touchpoint_id="tp-r", channel="email"))

    assert [Invoice.ReminderSent] == event_types(events)
    assert expected == event_fields(events[0])


def test_a_correction_records_its_error_type_and_a_negative_delta(memory: Memory) -> None:
    expected = ("tp-c", "I1", "duplicate", Decimal("-19.98"))

    events = memory.decide(corrected("-19.98", "duplicate", touchpoint_id="tp-c"))

    assert [Invoice.Corrected] == event_types(events)
    fields = event_fields(events[0])
    assert expected == (fields["touchpoint_id"], fields["invoice_id"], fields["error_type"],
                        fields["amount_delta"])


def test_payments_reminders_and_corrections_repeat_in_any_order(memory: Memory) -> None:
    steps = [paid("5.00"), reminder_sent(), corrected("1.25"), paid("5.00"), reminder_sent(),
             reminder_sent(), corrected("-0.50", "tax"), paid("100.00"), paid("0.01")]
    expected = [Invoice.Paid, Invoice.ReminderSent, Invoice.Corrected, Invoice.Paid,
                Invoice.ReminderSent, Invoice.ReminderSent, Invoice.Corrected, Invoice.Paid,
                Invoice.Paid]

    events = [event for step in steps for event in memory.decide(step)]

    assert expected == event_types(events)
    assert len(steps) + 1 == memory.entity(Invoice, "I1").version


def test_a_payment_beyond_the_amount_due_is_still_accepted(memory: Memory) -> None:
    memory.decide(paid("19.98"))  # the whole amount of the issued invoice

    events = memory.decide(paid("19.98"))

    assert [Invoice.Paid] == event_types(events)


def test_an_invoice_of_a_cancelled_order_still_takes_payments_and_corrections() -> None:
    memory = Memory()
    memory.decide(order("O1"))
    memory.decide(invoice("I1", order_id="O1"))
    memory.decide(tp("purchase.cancelled", order_id="O1", reason="changed mind"))

    events = memory.decide(corrected("-19.98")) + memory.decide(paid("1.00"))

    assert [Invoice.Corrected, Invoice.Paid] == event_types(events)


# --- The events themselves ---------------------------------------------------------------------


def test_every_invoice_event_is_nested_in_the_invoice_and_named_in_the_past_tense() -> None:
    expected = {"Issued", "Paid", "ReminderSent", "Corrected"}

    nested = {name for name, value in vars(Invoice).items()
              if isinstance(value, type) and issubclass(value, TouchpointEvent)}

    assert expected == nested
    assert all(getattr(Invoice, name).__qualname__ == f"Invoice.{name}" for name in nested)


def test_state_replayed_from_events_equals_state_decided() -> None:
    memory = Memory()
    history = memory.decide(invoice("I1", customer_id="C3"))
    for touchpoint in (paid(customer_id="C3"), corrected(customer_id="C3"),
                       reminder_sent(customer_id="C3")):
        history += memory.decide(touchpoint)

    replayed: Any = None
    for event in history:
        replayed = event.mutate(replayed)

    live = memory.entity(Invoice, "I1")
    assert (live.id, live.key, live.customer_id, live.version) == (
        replayed.id, replayed.key, replayed.customer_id, replayed.version)
