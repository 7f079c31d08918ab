"""``bulk_work``: the collector's thresholds raised while any block runs, restored after the
last, whatever the nesting, the threads or the exceptions."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from journey.infra.collector import BULK_THRESHOLDS, bulk_work


@pytest.fixture(autouse=True)
def own_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(1234, 11, 12)
    yield (1234, 11, 12)
    gc.set_threshold(*before)


def test_nested_blocks_restore_the_thresholds_after_the_outer(
        own_thresholds: tuple[int, int, int]) -> None:
    with bulk_work():
        assert gc.get_threshold() == BULK_THRESHOLDS
        with bulk_work():
            assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_threshold() == BULK_THRESHOLDS
    assert gc.get_threshold() == own_thresholds


def test_an_exception_restores_them(own_thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(KeyError), bulk_work():
        raise KeyError("x")
    assert gc.get_threshold() == own_thresholds


def test_overlapping_threads_restore_them_after_the_last(
        own_thresholds: tuple[int, int, int]) -> None:
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def a() -> None:
        with bulk_work():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:
        a_in.wait(10)
        with bulk_work():
            b_in.set()
            a_out.wait(10)
            seen["b after a left"] = gc.get_threshold()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # a entered first and left first: b's block kept the bulk thresholds to its end
    assert seen["b after a left"] == BULK_THRESHOLDS
    assert gc.get_threshold() == own_thresholds


def test_a_decorated_call_runs_in_bulk(own_thresholds: tuple[int, int, int]) -> None:
    @bulk_work()
    def work() -> tuple[int, int, int]:
        return gc.get_threshold()

    assert work() == BULK_THRESHOLDS
    assert work() == BULK_THRESHOLDS  # each call its own block
    assert gc.get_threshold() == own_thresholds
