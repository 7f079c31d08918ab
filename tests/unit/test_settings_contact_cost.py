"""``JOURNEY_CONTACT_COST`` (contract 4.7): one check for the variable, ``--contact-cost`` and
``Settings(contact_cost=...)`` from Python; the value is a ``Decimal`` with 2 decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from journey.domain.errors import UsageError
from journey.infra.cli.options import contact_cost
from journey.infra.settings import Settings, SettingsError

FORM = "JOURNEY_CONTACT_COST: expected a cost per contact, a decimal >= 0 with at most 2 " \
       "decimals (e.g. 12.50)"


@pytest.mark.parametrize(("given", "cost"), [
    ("12.50", "12.50"), ("12.5", "12.50"), ("12", "12.00"), ("0", "0.00"), ("0.00", "0.00"),
    ("12.500", "12.50"), (" 7 ", "7.00"), ("007.1", "7.10"),
    ("99999999999999999999999999.99", "99999999999999999999999999.99"),
    (Decimal("3.1"), "3.10"), (Decimal("-0"), "0.00"), (Decimal("1E+2"), "100.00"), (4, "4.00"),
])
def test_a_cost_is_kept_exactly_with_two_decimals(given: object, cost: str) -> None:
    value = Settings(contact_cost=given).contact_cost

    assert isinstance(value, Decimal)
    assert str(value) == cost


@pytest.mark.parametrize("given", [
    "-1", "-0", "+1", "1.234", "0.001", "abc", "nan", "NaN", "inf", "1e3", "1,50", "1_000",
    ".5", "5.", "", " ", "١٢", "100000000000000000000000000",
    1.5, True, -1, Decimal("-0.01"), Decimal("NaN"), Decimal("Infinity"), Decimal("0.005"),
])
def test_anything_else_is_refused_naming_the_variable(given: object) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings(contact_cost=given)

    assert str(refused.value).startswith(FORM + " (got ")


def test_the_variable_sets_it_and_an_empty_one_is_the_default() -> None:
    assert Settings.from_env({"JOURNEY_CONTACT_COST": "2.5"}).contact_cost == Decimal("2.50")
    assert Settings.from_env({"JOURNEY_CONTACT_COST": ""}).contact_cost is None
    assert Settings.from_env({}).contact_cost is None


def test_other_changes_keep_the_cost() -> None:
    settings = Settings(contact_cost="1.10").with_(batch_size=7)

    assert (settings.contact_cost, settings.batch_size) == (Decimal("1.10"), 7)


def test_the_option_has_the_same_check_and_names_itself() -> None:
    assert contact_cost("12.5") == Decimal("12.50")
    with pytest.raises(UsageError) as refused:
        contact_cost("1.234")

    assert str(refused.value) == ("--contact-cost: expected a cost per contact, a decimal >= 0 "
                                  'with at most 2 decimals (e.g. 12.50) (got "1.234")')
