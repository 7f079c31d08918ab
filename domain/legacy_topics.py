"""The names stored events had before the engine's modules moved under ``journey``.

Stored events name their class by topic (``module:Class.Event``). Stores written before
the move hold ``domain.orders:Order.Placed`` where new events hold
``journey.domain.orders:Order.Placed``. ``register_old_topics`` registers exactly the old
names of the domain's aggregate and event classes with eventsourcing, so such stores read
as before. Only those names: a program's own ``domain`` package keeps its own topics.
"""

from __future__ import annotations

import importlib
from functools import cache

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
def register_old_topics() -> None:
    """Make the old topics resolve to the current classes (once per process)."""
    for topic, cls in old_topics().items():
        register_topic(topic, cls)
