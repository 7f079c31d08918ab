"""One parser for every time bound: months, days and instants, as periods of UTC time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey.infra.bounds import BoundError, lower, period, upper


@pytest.mark.parametrize(("text", "first", "last"), [
    ("2026-03", datetime(2026, 3, 1, tzinfo=UTC),
     datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2024-02", datetime(2024, 2, 1, tzinfo=UTC),
     datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
    ("9999-12", datetime(9999, 12, 1, tzinfo=UTC),
     datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2026-03-15", datetime(2026, 3, 15, tzinfo=UTC),
     datetime(2026, 3, 15, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2026-03-15T10:00:00+01:00", datetime(2026, 3, 15, 9, tzinfo=UTC),
     datetime(2026, 3, 15, 9, tzinfo=UTC)),
    ("2026-03-15t10:00:00z", datetime(2026, 3, 15, 10, tzinfo=UTC),
     datetime(2026, 3, 15, 10, tzinfo=UTC)),
])
def test_a_bound_names_a_period_of_utc_time(text: str, first: datetime, last: datetime) -> None:
    assert (first, last) == (lower(text), upper(text))


def test_months_of_a_period_follow_utc() -> None:
    evening = period("2026-02-28T23:30:00-05:00")

    assert (evening.first_month, evening.last_month) == ("2026-03", "2026-03")


@pytest.mark.parametrize("text", [
    "2026/03", "2026-13", "2026-00", "March", "2026-02-30", "", "26-03",
    "2026-03-15T25:00:00Z",
])
def test_anything_else_is_refused_naming_the_option_and_the_formats(text: str) -> None:
    with pytest.raises(BoundError, match=r"^--from: expected a month YYYY-MM, a day"):
        period(text, "--from")


def test_an_instant_without_an_offset_is_refused_as_such() -> None:
    with pytest.raises(BoundError, match="needs an offset"):
        period("2026-03-15T10:00:00", "--as-of")


def test_an_instant_before_the_first_utc_moment_is_refused_not_a_crash() -> None:
    with pytest.raises(BoundError, match="outside the years 1 to 9999"):
        period("0001-01-01T00:00:00+01:00", "--as-of")


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, *(timezone(timedelta(minutes=m))
                                                      for m in (-600, -330, 60, 345, 840))])))
def test_any_rfc3339_instant_reads_back_as_the_same_moment(moment: datetime) -> None:
    assert moment == lower(moment.isoformat()) == upper(moment.isoformat())


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_a_day_and_its_month_contain_each_other_in_order(day: date) -> None:
    day_period, month_period = period(str(day)), period(str(day)[:7])

    assert month_period.first <= day_period.first <= day_period.last <= month_period.last
    assert day_period.last - day_period.first == timedelta(days=1, microseconds=-1)
