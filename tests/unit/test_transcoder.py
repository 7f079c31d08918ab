"""The stored events' encoder writes what the library's JSON transcoder writes, byte for byte."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey.infra.store.application import JourneyApplication
from journey.infra.store.transcoder import OrjsonTranscoder

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pair() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    app = JourneyApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    library, ours = JSONTranscoder(), app.mapper.transcoder
    assert type(ours) is OrjsonTranscoder  # the application uses it by default
    app.register_transcodings(library)
    return library, ours


LIBRARY, OURS = _pair()

zones = st.sampled_from([UTC, timezone(timedelta(hours=2)),
                         timezone(timedelta(hours=-5, minutes=-30))])
plain = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),  # beyond 64 bits: the library's encoder
    st.text(),  # control characters, quotes, backslashes, any plane
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.datetimes(timezones=zones), st.dates(),
)
# Floats and UUIDs are spelled apart by orjson: at the top level they go to the library's
# encoder; no event holds one inside a list or a dict (an order's lines hold str, int, Decimal).
nested = st.recursive(plain, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
states = st.dictionaries(st.text(max_size=12), st.one_of(
    nested, st.floats(allow_nan=False, allow_infinity=False), st.uuids()), max_size=10)


@FAST
@given(states)
def test_an_event_state_is_encoded_as_the_library_encodes_it(state: dict[str, object]) -> None:
    assert OURS.encode(state) == LIBRARY.encode(state)
    assert OURS.decode(OURS.encode(state)) == LIBRARY.decode(LIBRARY.encode(state))


def test_a_domain_event_state_is_unchanged() -> None:
    state = {
        "timestamp": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "originator_topic": "journey.domain.orders:Order", "touchpoint_id": "tp-é\n\"\\\x01",
        "lines": [{"sku": "S1", "qty": 2, "unit_price": Decimal("9.90")}],
        "due_date": date(2026, 2, 1), "error": None, "qty": -3, "subject": {"type": "order"},
    }
    assert OURS.encode(state) == LIBRARY.encode(state)


def test_what_the_library_refuses_is_refused() -> None:
    class Unknown:
        pass

    with pytest.raises(TranscodingNotRegisteredError):
        OURS.encode({"x": Unknown()})


naive_or_zoned = st.datetimes(timezones=st.none() | zones)
top_level = st.one_of(nested, st.floats(allow_nan=False, allow_infinity=False), st.uuids(),
                      naive_or_zoned, st.dates(), st.decimals(allow_nan=False, places=3))


@FAST
@given(st.dictionaries(st.text(max_size=12), top_level, max_size=10))
def test_the_batch_writers_encoding_is_the_librarys(state: dict[str, object]) -> None:
    expected = LIBRARY.encode(state)
    assert OURS.encode_state(dict(state)) == expected


def test_the_batch_writers_encoding_falls_back_where_orjson_would_differ() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for state in ({"when": when, "big": 2**70}, {"when": when, "keys": {1: "one"}},
                  {"when": when, "lines": [{"at": when, "price": Decimal("1.10")}]},
                  {"day": date(2026, 2, 1), "lines": [date(2026, 2, 2)], "x": 1.5}):
        assert OURS.encode_state(dict(state)) == LIBRARY.encode(state), state
