"""The service figures' arithmetic (contract 4.6-4.8): exact hours, nearest-rank percentiles,
half-even rates and means, exact money with 2 decimals."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal, Inexact, InvalidOperation
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey.projections.service.figures import (
    P50,
    P90,
    add,
    cost_per_contact,
    day,
    hours,
    mean,
    money,
    money_text,
    percentile,
    rank,
    rate,
    span,
    times,
)

HOUR = 3_600_000_000


@pytest.mark.parametrize(("n", "p50", "p90"), [(1, 1, 1), (2, 1, 2), (10, 5, 9), (11, 6, 10)])
def test_the_nearest_rank_is_ceil_p_n_at_least_the_first(n: int, p50: int, p90: int) -> None:
    assert (rank(P50, n), rank(P90, n)) == (p50, p90)


def test_percentiles_pick_the_nearest_rank_value_of_a_sorted_list() -> None:
    assert percentile([7], P90) == 7
    assert (percentile([3, 9], P50), percentile([3, 9], P90)) == (3, 9)
    ten = list(range(10, 110, 10))
    assert (percentile(ten, P50), percentile(ten, P90)) == (50, 90)
    assert percentile([], P50) is None


@given(st.lists(st.integers(-10**15, 10**15), min_size=1, max_size=60),
       st.sampled_from([P50, P90, Fraction(1, 100), Fraction(99, 100), Fraction(1)]))
def test_a_percentile_is_the_ceil_p_n_th_smallest(values: list[int], p: Fraction) -> None:
    ordered = sorted(values)
    k = max(1, math.ceil(p * len(values)))  # a Fraction: exact
    assert percentile(ordered, p) == ordered[k - 1]


@pytest.mark.parametrize(("us", "expected"), [
    (HOUR, 1.0),
    (HOUR * 3 // 2, 1.5),
    (-HOUR * 3 // 2, -1.5),  # a resolution dated before its opening
    (HOUR // 200, 0.0),  # 0.005 h rounds half to even: 0.00
    (HOUR * 3 // 200, 0.02),  # 0.015 h: 0.02
    (HOUR * 5 // 200, 0.02),  # 0.025 h: 0.02
    (HOUR // 200 + 1, 0.01),  # a microsecond beyond the half: up
    (None, None),
])
def test_hours_round_half_even_to_two_decimals_exactly(us: int | None,
                                                      expected: float | None) -> None:
    assert hours(us) == expected


def test_rates_and_means_round_half_even_and_are_none_of_nothing() -> None:
    assert rate(1, 3) == 0.3333
    assert rate(2, 3) == 0.6667
    assert rate(1, 80000) == 0.0  # 0.0000125: down
    assert rate(1, 20000) == 0.0  # 0.00005: half to even, 0.0000
    assert rate(3, 20000) == 0.0002  # 0.00015: half to even, 0.0002
    assert rate(5, 0) is None
    assert mean(9, 2) == 4.5
    assert mean(1, 8) == 0.12  # 0.125 -> 0.12 (half even)
    assert mean(3, 8) == 0.38  # 0.375 -> 0.38
    assert mean(0, 0) is None


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("0"), "0.00"),
    (Decimal("-0.00"), "0.00"),  # never -0.00
    (Decimal("-3.25"), "-3.25"),
    (Decimal("19.9"), "19.90"),
    (Decimal("1E+3"), "1000.00"),
    (Decimal("99999999999999999999999999.99"), "99999999999999999999999999.99"),
])
def test_money_prints_with_exactly_two_decimals(value: Decimal, text: str) -> None:
    assert money_text(value) == text


def test_money_never_rounds_silently() -> None:
    with pytest.raises(Inexact):
        money_text(Decimal("0.005"))
    big = Decimal("99999999999999999999999999.99")
    assert money_text(add(big, big)) == "199999999999999999999999999.98"  # 29 digits
    assert money_text(times(10**6, big)) == "99999999999999999999999999990000.00"


def test_money_and_days_come_in_every_form_the_decoders_give() -> None:
    assert money(Decimal("1.50")) == money({"_type_": "decimal_str", "_data_": "1.50"}) == (
        money("1.5")) == Decimal("1.5")
    with pytest.raises(TypeError):
        money(1.5)
    with pytest.raises(InvalidOperation):
        money("twelve")
    assert day(date(2026, 3, 31)) == day({"_type_": "date_iso", "_data_": "2026-03-31"}) == (
        "2026-03-31")


@pytest.mark.parametrize(("value", "kept"), [
    (Decimal("12.5"), "12.50"), (3, "3.00"), (Decimal("12.500"), "12.50"),
    (Decimal("-0"), "0.00"), (Decimal("0.01"), "0.01")])
def test_a_cost_per_contact_from_python_is_kept_with_2_decimals(value: object, kept: str) -> None:
    assert str(cost_per_contact(value)) == kept


@pytest.mark.parametrize("value", [
    Decimal("1.234"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+30"),
    12.5, True, "12", None])
def test_a_cost_per_contact_that_is_not_money_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="cost per contact"):
        cost_per_contact(value)


def test_hours_between_two_touchpoints_are_the_later_minus_the_earlier() -> None:
    assert span(10, 25) == span(25, 10) == 15
