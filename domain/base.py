"""What every journey aggregate and event shares: identity and the touchpoint envelope."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from hashlib import sha1
from typing import TYPE_CHECKING, Any, ClassVar, Self
from uuid import UUID, SafeUUID

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from journey.domain.errors import TouchpointRejected

if TYPE_CHECKING:
    from journey.schemas.touchpoint import Touchpoint

#: Namespace of the deterministic aggregate ids (uuid5 of "kind:key").
JOURNEY_NAMESPACE = UUID("6f1c3f0e-8a57-4b8e-9a59-0c2d3b7e4a11")


_NAMESPACE_BYTES = JOURNEY_NAMESPACE.bytes
#: The bits ``UUID(bytes=..., version=5)`` sets: the RFC 4122 variant and the version.
_CLEARED = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (5 << 76)


@lru_cache(maxsize=1 << 17)  # a batch asks for each id several times
def entity_id(kind: str, key: str) -> UUID:
    """The aggregate id of an entity, e.g. ``entity_id("order", "O1")``; stable across stores.

    ``uuid5(JOURNEY_NAMESPACE, f"{kind}:{key}")``, built without ``UUID.__init__``'s checks
    (half of uuid5's cost, paid once for every new entity)."""
    digest = sha1(_NAMESPACE_BYTES + f"{kind}:{key}".encode(), usedforsecurity=False).digest()
    found = object.__new__(UUID)
    object.__setattr__(found, "int", int.from_bytes(digest[:16]) & _CLEARED | _SET)
    object.__setattr__(found, "is_safe", SafeUUID.unknown)
    return found


class TouchpointEvent(Aggregate.Event):
    """An event caused by one accepted touchpoint; carries the contract envelope."""

    touchpoint_id: str
    occurred_at: datetime
    customer_id: str | None
    channel: str | None
    source: str | None
    error: str | None


def envelope(tp: Touchpoint) -> dict[str, Any]:
    """The envelope fields of a touchpoint, as event keyword arguments."""
    return {
        "touchpoint_id": tp.touchpoint_id,
        "occurred_at": tp.occurred_at,
        "customer_id": tp.customer_id,
        "channel": tp.channel,
        "source": tp.source,
        "error": tp.error,
    }


_EVENT_FIELDS: dict[type, tuple[str, ...]] = {}
_INIT_PARAMS: dict[type, tuple[str, ...]] = {}


def event_fields(event_class: type) -> tuple[str, ...]:
    """An event class's fields in its dataclass ``__init__``'s order: the order of the
    event's ``__dict__``, so of the keys of its stored JSON."""
    found = _EVENT_FIELDS.get(event_class)
    if found is None:
        found = _EVENT_FIELDS[event_class] = tuple(f.name for f in dataclasses.fields(event_class))
    return found


def init_params(aggregate_class: type) -> tuple[str, ...]:
    """The parameters of an aggregate class's ``__init__`` (without ``self``)."""
    found = _INIT_PARAMS.get(aggregate_class)
    if found is None:
        found = _INIT_PARAMS[aggregate_class] = tuple(
            inspect.signature(vars(aggregate_class)["__init__"]).parameters)[1:]
    return found


def _event(event_class: type[Any], state: dict[str, Any]) -> Any:
    """The event a frozen dataclass ``__init__`` would build from ``state``, at a fraction
    of the cost: ``state`` becomes its ``__dict__`` (as the mapper does when it reads)."""
    if tuple(state) != event_fields(event_class):
        raise TypeError(f"{event_class.__qualname__} takes {event_fields(event_class)}, "
                        f"not {tuple(state)}")
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", state)
    return event


class FastEvents:
    """eventsourcing's ``_create`` and ``trigger_event``, without their generic work; mixed
    into our aggregates (a plain class: an ``Aggregate`` base would add event classes).

    The same events (class, fields and their order, version, timestamp from the event
    class's ``create_timestamp``) and the same aggregate state; the generic path (kwargs
    copies, a frozen ``__init__``, signature filtering in ``mutate``) was most of the cost
    of deciding a line. ``tests/unit/test_fast_events.py`` holds the two side by side.
    """

    if TYPE_CHECKING:  # set by Aggregate.__base_init__
        INITIAL_VERSION: int
        _id: UUID
        _version: int
        _created_on: datetime
        _modified_on: datetime
        _pending_events: list[CanMutateAggregate[UUID]]

    @classmethod
    def create(cls, event_class: type[CanInitAggregate[UUID]], id: UUID,
               tp: Touchpoint | None, **fields: Any) -> Self:
        """The aggregate ``cls._create(event_class, id=id, **envelope(tp), **fields)`` makes."""
        timestamp = event_class.create_timestamp()
        state = {"originator_id": id, "originator_version": cls.INITIAL_VERSION,
                 "timestamp": timestamp, "originator_topic": get_topic(cls),
                 **({} if tp is None else envelope(tp)), **fields}
        event = _event(event_class, state)
        aggregate = cls.created_by(event)
        aggregate._pending_events.append(event)
        return aggregate

    @classmethod
    def created_by(cls, event: CanInitAggregate[UUID]) -> Self:
        """The aggregate ``event.mutate(None)`` makes, without its signature filtering."""
        state = event.__dict__
        aggregate = object.__new__(cls)
        # what __base_init__ sets, in its order (attributes, not a __dict__ of our own: a
        # cached aggregate is then one object fewer for the garbage collector to visit)
        aggregate._id = state["originator_id"]
        aggregate._version = state["originator_version"]
        aggregate._created_on = state["timestamp"]
        aggregate._modified_on = state["timestamp"]
        aggregate._pending_events = []
        aggregate.__init__(**{name: state[name] for name in init_params(cls)})  # type: ignore[misc]
        event.apply(aggregate)
        return aggregate

    def trigger(self, event_class: type[CanMutateAggregate[UUID]], tp: Touchpoint,
                **fields: Any) -> None:
        """What ``self.trigger_event(event_class, **envelope(tp), **fields)`` does."""
        version = self._version + 1
        timestamp = event_class.create_timestamp()
        state = {"originator_id": self._id, "originator_version": version,
                 "timestamp": timestamp, "touchpoint_id": tp.touchpoint_id,
                 "occurred_at": tp.occurred_at, "customer_id": tp.customer_id,
                 "channel": tp.channel, "source": tp.source, "error": tp.error, **fields}
        event = _event(event_class, state)
        event.apply(self)  # the version checks of mutate() hold by construction
        self._version = version
        self._modified_on = timestamp
        self._pending_events.append(event)

    def collect_events(self) -> Sequence[CanMutateAggregate[UUID]]:
        """The pending events, in order, without popping them one by one."""
        collected, self._pending_events = self._pending_events, []
        return collected


def replay(history: Iterable[Any]) -> Any:
    """The aggregate a stored history makes (its events from the first, in order): the fold
    of ``event.mutate``, the first event's done by ``FastEvents.created_by`` where it can."""
    aggregate: Any = None
    for event in history:
        if aggregate is None and isinstance(event, CanInitAggregate):
            cls = resolve_topic(event.originator_topic)
            if issubclass(cls, FastEvents):
                aggregate = cls.created_by(event)
                continue
        aggregate = event.mutate(aggregate)
    return aggregate


class Entity(FastEvents, Aggregate):
    """An entity a customer has (order, invoice, case, repair): a key and an owner."""

    KIND: ClassVar[str]

    if TYPE_CHECKING:  # set by each subclass's __init__; class-level annotations would
        key: str  # become Created-event fields in eventsourcing's aggregate metaclass
        customer_id: str

    @classmethod
    def id_for(cls, key: str) -> UUID:
        return entity_id(cls.KIND, key)

    @property
    def ref(self) -> str:
        """How the contract names this entity, e.g. ``order:O1``."""
        return f"{self.KIND}:{self.key}"

    def check_customer(self, customer_id: str | None) -> None:
        if customer_id != self.customer_id:
            raise TouchpointRejected(
                "customer_mismatch",
                f"{self.ref} belongs to another customer than {customer_id!r}",
            )

    def transition_refused(self, tp_type: str, state: str) -> TouchpointRejected:
        return TouchpointRejected(
            "invalid_transition", f"{self.ref} is {state}; {tp_type} is not allowed"
        )
