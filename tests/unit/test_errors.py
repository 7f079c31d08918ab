"""The error tree drawn in ``journey.domain.errors`` is the tree of the classes."""

from __future__ import annotations

import importlib
import pkgutil
import re

import journey
from journey.domain import errors
from journey.domain.errors import JourneyError

ROW = re.compile(r"^(?P<indent>[\s│]*)(?:[├└]── )?(?P<name>\w+)\b")


def _drawn() -> dict[str, str | None]:
    """Each class of the docstring's tree and its parent (None for the root)."""
    lines = errors.__doc__.split("    JourneyError\n", 1)[1].split("\n\n", 1)[0].splitlines()
    parents: dict[str, str | None] = {"JourneyError": None}
    stack = ["JourneyError"]
    for line in lines:
        match = ROW.match(line[4:])
        assert match, line
        depth = len(match["indent"]) // 4 + 1
        del stack[depth:]
        parents[match["name"]] = stack[-1]
        stack.append(match["name"])
    return parents


def _defined() -> dict[str, str | None]:
    """Every JourneyError class the engine defines and its nearest JourneyError base."""
    for folder in ("domain", "projections", "consumers", "schemas", "infra"):
        package = importlib.import_module(f"journey.{folder}")
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found: dict[str, str | None] = {"JourneyError": None}
    todo = [JourneyError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith(journey.__name__ + "."):
                found[sub.__name__] = next(b.__name__ for b in sub.__bases__
                                           if issubclass(b, JourneyError))
                todo.append(sub)
    return found


def test_the_docstring_draws_every_error_class_under_its_parent() -> None:
    assert _defined() == _drawn()


def test_the_drawing_is_read_as_a_tree() -> None:
    drawn = _drawn()
    assert drawn["LeaseHeld"] == "StoreError"
    assert drawn["StoreError"] == "JourneyError"
    assert len(drawn) > 10
