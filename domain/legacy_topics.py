"""The names stored events had before the engine's modules moved under ``journey``.

Stored events name their class by topic (``module:Class.Event``). Stores written before
the move hold ``domain.orders:Order.Placed`` where new events hold
``journey.domain.orders:Order.Placed``. ``register_old_topics`` makes the old names of the
domain's aggregate and event classes resolve with eventsourcing, so such stores read as
before. Only those names: a program's own ``domain`` package keeps its own topics.

It registers the five old module names, each standing for its module (``OldModule``), not
each class: opening a store imports no aggregate (a query reads no event, and the classes
take a tenth of a second to define); the first old topic resolved imports them.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

#: The package the domain modules were imported as, and the modules that hold aggregates.
OLD_PACKAGE = "domain"
AGGREGATE_MODULES = ("orders", "invoices", "cases", "repairs", "stock")


def old_topics() -> dict[str, type]:
    """Every old topic of an aggregate or one of its event classes, and that class now."""
    topics: dict[str, type] = {}
    for name in AGGREGATE_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        for aggregate in vars(module).values():
            if not (isinstance(aggregate, type) and issubclass(aggregate, Aggregate)
                    and aggregate.__module__ == module.__name__):
                continue
            topics[f"{OLD_PACKAGE}.{name}:{aggregate.__qualname__}"] = aggregate
            for nested in vars(aggregate).values():
                if isinstance(nested, type) and issubclass(nested, Aggregate.Event):
                    topics[f"{OLD_PACKAGE}.{name}:{nested.__qualname__}"] = nested
    return topics


@cache
def _old_classes() -> dict[str, type]:
    return old_topics()


class OldModule(ModuleType):
    """``domain.<name>`` as eventsourcing's topic cache holds it: ``Order`` of the topic
    ``domain.orders:Order.Placed`` is ``journey.domain.orders.Order`` (whose ``Placed`` is
    the current class), imported when first asked. A name the engine's module never held
    is looked up in a program's own ``domain.<name>``, as it would be without this."""

    def __getattr__(self, name: str) -> Any:
        cls = _old_classes().get(f"{self.__name__}:{name}")
        if cls is not None:
            return cls
        try:
            return getattr(importlib.import_module(self.__name__), name)
        except ImportError as exc:  # eventsourcing reports a topic it cannot resolve
            raise AttributeError(f"{self.__name__}:{name}: {exc}") from exc


@cache
def register_old_topics() -> None:
    """Make the old topics resolve to the current classes (once per process)."""
    for name in AGGREGATE_MODULES:
        register_topic(f"{OLD_PACKAGE}.{name}", OldModule(f"{OLD_PACKAGE}.{name}"))
