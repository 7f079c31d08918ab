"""The aggregates' own event path (``FastEvents``) against eventsourcing's generic one.

Both decide the same generated workloads; the events (class, every field, their order,
version and timestamp) and the aggregates' state after each line must be identical, and a
stored history must replay to the same aggregate either way.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate, CanCreateTimestamp, CanMutateAggregate
from hypothesis import given
from hypothesis import strategies as st

from journey.domain.base import JOURNEY_NAMESPACE, FastEvents, entity_id, envelope, replay
from journey.domain.cases import Case
from journey.domain.decide import Decider
from journey.domain.errors import TouchpointRejected
from journey.domain.invoices import Invoice
from journey.domain.orders import Order
from journey.domain.repairs import Repair
from journey.domain.stock import PartStock
from journey.infra.workload.journeys import generate
from journey.infra.workload.options import WorkloadOptions
from journey.schemas.parsing import Parsed, parse_line

#: Seeds and error rates: together they reach every event class (checked below).
WORKLOADS = [(1, 0.05), (2, 0.25), (3, 0.45)]


class Memory:
    def __init__(self) -> None:
        self.items: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        return self.items.get(aggregate_id)


def reference_create(cls: Any, event_class: Any, id: UUID, tp: Any,
                     **fields: Any) -> Any:
    return cls._create(event_class, id=id, **({} if tp is None else envelope(tp)), **fields)


def reference_trigger(self: Any, event_class: Any, tp: Any, **fields: Any) -> None:
    self.trigger_event(event_class, **envelope(tp), **fields)


def restart_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now, each ``create_timestamp`` call gives the next second: both paths must call
    it once per event, in the same order, for their timestamps to agree."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counter = itertools.count()
    monkeypatch.setattr(CanCreateTimestamp, "create_timestamp",
                        staticmethod(lambda: start + timedelta(seconds=next(counter))))


def state(aggregate: Aggregate) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in vars(aggregate).items() if k != "_pending_events"]


def event_record(event: Any) -> tuple[type, list[tuple[str, Any]]]:
    return type(event), list(vars(event).items())


def decide_all(lines: list[bytes]) -> tuple[list[Any], dict[UUID, list[Any]]]:
    """Each line's outcome (its events and the changed aggregates' state, or the reject),
    and every aggregate's history."""
    memory = Memory()
    decider = Decider(memory)
    outcomes: list[Any] = []
    histories: dict[UUID, list[Any]] = {}
    for raw in lines:
        parsed = parse_line(raw)
        if not isinstance(parsed, Parsed):
            continue
        try:
            changed = decider.decide(parsed.touchpoint)
        except TouchpointRejected as rejected:
            outcomes.append(("rejected", rejected.reason, rejected.detail))
            continue
        line_events = []
        for aggregate in changed:
            memory.items[aggregate.id] = aggregate
            events = list(aggregate.collect_events())
            histories.setdefault(aggregate.id, []).extend(events)
            line_events.extend(event_record(e) for e in events)
        outcomes.append(("accepted", line_events, [state(a) for a in changed]))
    return outcomes, histories


def workload(seed: int, error_rate: float) -> list[bytes]:
    options = WorkloadOptions(customers=40, seed=seed, error_rate=error_rate)
    return [line.encode() for line in generate(options)]


def every_event_class() -> set[type]:
    found = set()
    for aggregate in (Order, Invoice, Case, Repair, PartStock):
        for name, value in vars(aggregate).items():
            if (isinstance(value, type) and issubclass(value, CanMutateAggregate)
                    and name not in ("Event", "Created", "Movement")):
                found.add(value)
    return found


@pytest.mark.parametrize(("seed", "error_rate"), WORKLOADS)
def test_fast_events_equal_eventsourcings_for_every_line_of_a_workload(
        seed: int, error_rate: float, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = workload(seed, error_rate)

    restart_clock(monkeypatch)
    fast, _ = decide_all(lines)
    with monkeypatch.context() as reference:
        restart_clock(reference)
        reference.setattr(FastEvents, "create", classmethod(reference_create))
        reference.setattr(FastEvents, "trigger", reference_trigger)
        reference.delattr(FastEvents, "collect_events")
        slow, _ = decide_all(lines)

    assert len(fast) == len(slow)
    for index, (ours, theirs) in enumerate(zip(fast, slow, strict=True)):
        assert ours == theirs, f"line {index}"


def test_the_workloads_reach_every_event_class() -> None:
    seen: set[type] = set()
    for seed, error_rate in WORKLOADS:
        _, histories = decide_all(workload(seed, error_rate))
        seen.update(type(e) for events in histories.values() for e in events)

    assert every_event_class() - seen == set()


@pytest.mark.parametrize(("seed", "error_rate"), WORKLOADS[:2])
def test_a_history_replays_to_the_aggregate_that_made_it(seed: int, error_rate: float) -> None:
    memory = Memory()
    decider = Decider(memory)
    histories: dict[UUID, list[Any]] = {}
    for raw in workload(seed, error_rate):
        parsed = parse_line(raw)
        if not isinstance(parsed, Parsed):
            continue
        try:
            changed = decider.decide(parsed.touchpoint)
        except TouchpointRejected:
            continue
        for aggregate in changed:
            memory.items[aggregate.id] = aggregate
            histories.setdefault(aggregate.id, []).extend(aggregate.collect_events())
    memory_after = {key: state(found) for key, found in memory.items.items()}

    for aggregate_id, history in histories.items():
        folded: Any = None
        for event in history:
            folded = event.mutate(folded)
        replayed = replay(history)

        assert type(replayed) is type(folded)
        assert state(replayed) == state(folded) == memory_after[aggregate_id]


def test_an_event_missing_a_field_or_out_of_order_is_refused() -> None:
    placed = parse_line(b'{"touchpoint_id": "t1", "type": "purchase.placed", "occurred_at": '
                        b'"2026-01-01T00:00:00Z", "customer_id": "C1", "order_id": "O1", '
                        b'"lines": [{"sku": "S", "qty": 1, "unit_price": "1.00"}], '
                        b'"currency": "EUR"}')
    assert isinstance(placed, Parsed)
    order = Order.place(placed.touchpoint)  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        order.trigger(Order.Cancelled, placed.touchpoint, order_id="O1")
    with pytest.raises(TypeError):
        order.trigger(Order.Cancelled, placed.touchpoint, reason="r", order_id="O1")
    assert order.version == 1


@given(st.text(), st.text())
def test_entity_ids_are_uuid5s_of_kind_and_key(kind: str, key: str) -> None:
    try:
        expected = uuid5(JOURNEY_NAMESPACE, f"{kind}:{key}")
    except UnicodeEncodeError:  # a lone surrogate: no id either way
        with pytest.raises(UnicodeEncodeError):
            entity_id(kind, key)
        return

    actual = entity_id(kind, key)

    assert type(actual) is UUID
    assert (actual, actual.is_safe, str(actual)) == (expected, expected.is_safe, str(expected))
    assert actual.__getstate__() == expected.__getstate__()
