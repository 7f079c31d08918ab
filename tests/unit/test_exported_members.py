"""The public API: what ``journey`` re-exports, and that importing it stays cheap."""

from __future__ import annotations

import sys

import pytest

import journey


@pytest.mark.parametrize("name", [n for n in journey.__all__ if n != "__version__"])
def test_every_exported_name_is_the_object_of_its_defining_module(name: str) -> None:
    value = getattr(journey, name)
    assert getattr(sys.modules[journey._EXPORTS[name]], name) is value
    assert name in dir(journey)


def test_all_lists_exactly_the_lazy_names() -> None:
    assert {"__version__", *journey._EXPORTS} == set(journey.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        journey.nothing  # noqa: B018


def test_the_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert journey.__version__ == version("journey-engine")
