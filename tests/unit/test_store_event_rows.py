"""The event store's one pass (events.event_rows, chain.links, chain.batch_seals) against the
library's mapper and the chain's one-row functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.store.application import JourneyApplication
from journey.infra.store.chain import (
    ZERO_HASH,
    audit_key,
    batch_seals,
    crosses_seal_mark,
    link,
    links,
    seal_mac,
)
from journey.infra.store.events import event_rows
from journey.infra.store.transcoder import OrjsonTranscoder

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Note(Aggregate):
    class Written(Aggregate.Event):
        value: Any
        when: datetime
        amount: Decimal
        due: date

    class Amended(Aggregate.Event):
        class_version = 3
        value: Any

    def __init__(self) -> None:
        pass


APP = JourneyApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
zones = st.sampled_from([UTC, None, timezone(timedelta(hours=-3, minutes=-30))])
values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.text(),
    st.floats(allow_nan=False), st.uuids(), st.dates(), st.datetimes(timezones=zones),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.lists(st.dictionaries(st.text(max_size=5), st.one_of(st.text(), st.integers(
        min_value=-(2**60), max_value=2**60), st.decimals(allow_nan=False, places=2)))),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(values, st.datetimes(timezones=zones), st.booleans()), min_size=1,
                max_size=6))
def test_event_rows_are_the_mappers_stored_events(specs: list[tuple[Any, datetime, bool]]
                                                  ) -> None:
    note = Note()
    for value, when, amend in specs:
        if amend:
            note.trigger_event(Note.Amended, value=value)
        else:
            note.trigger_event(Note.Written, value=value, when=when, amount=Decimal("-1.50"),
                               due=when.date())
    events = note.collect_events()
    transcoder = APP.mapper.transcoder
    assert isinstance(transcoder, OrjsonTranscoder)

    expected = [APP.mapper.to_stored_event(e) for e in events]
    for stored_id in (None, lambda originator_id: originator_id.hex):
        rows = event_rows(events, transcoder, stored_id)
        assert rows == [(s.originator_id.hex if stored_id else s.originator_id,
                         s.originator_version, s.topic, s.state) for s in expected]


@FAST
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 10**6), st.text(min_size=1),
                          st.binary()), min_size=1, max_size=40),
       st.integers(0, 5), st.integers(0, 120), st.binary(min_size=32, max_size=32))
def test_a_batch_is_chained_and_sealed_as_row_by_row(
        rows: list[tuple[int, int, str, bytes]], mark: int, back: int, prev: bytes) -> None:
    start = max(0, mark * 1000 - back)  # near a seal mark (SEAL_EVERY), often across it
    positions, position = [], start
    for step, *_ in rows:
        position += step
        positions.append(position)
    batch = [(uuid4().hex, version, topic, state) for _, version, topic, state in rows]
    key = audit_key("a secret")

    chain = links(prev, positions, batch)

    expected, seals, previous, digest = [], [], start, prev
    for position, row in zip(positions, batch, strict=True):
        digest = link(digest, position, *row)
        expected.append((position, digest))
        if crosses_seal_mark(previous, position):
            seals.append((position, seal_mac(key, position, digest)))
        previous = position
    if not seals or seals[-1][0] != previous:
        seals.append((previous, seal_mac(key, previous, digest)))
    assert chain == expected
    assert batch_seals(key, start, chain) == seals


def test_the_first_row_of_a_store_links_to_zero() -> None:
    oid = UUID(int=7).hex
    assert links(ZERO_HASH, [1], [(oid, 1, "t:E", b"{}")]) == [
        (1, link(ZERO_HASH, 1, oid, 1, "t:E", b"{}"))]
