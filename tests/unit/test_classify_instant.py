"""``instant``: the three forms of a moment the folds keep, against slow, obvious ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from journey.projections.moments import instant, iso_z

OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.one_of(st.just(UTC), OFFSETS))


@given(MOMENTS)
def test_instant_agrees_with_the_plain_conversions(moment: datetime) -> None:
    text, micros, month = instant(moment)
    utc = moment.astimezone(UTC)

    assert text == iso_z(moment)
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == moment
    assert micros == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert month == f"{utc.year:04d}-{utc.month:02d}"


def test_instant_of_a_moment_with_an_offset_is_in_utc() -> None:
    moment = datetime(2026, 3, 1, 0, 30, 0, 250, tzinfo=timezone(timedelta(hours=1)))

    assert instant(moment) == ("2026-02-28T23:30:00.000250Z", 1772321400000250, "2026-02")
