"""What every journey aggregate and event shares: identity and the touchpoint envelope."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from journey.domain.errors import TouchpointRejected

if TYPE_CHECKING:
    from journey.schemas.touchpoint import Touchpoint

#: Namespace of the deterministic aggregate ids (uuid5 of "kind:key").
JOURNEY_NAMESPACE = UUID("6f1c3f0e-8a57-4b8e-9a59-0c2d3b7e4a11")


@lru_cache(maxsize=1 << 17)  # a batch asks for each id several times; uuid5 costs ~5 µs
def entity_id(kind: str, key: str) -> UUID:
    """The aggregate id of an entity, e.g. ``entity_id("order", "O1")``; stable across stores."""
    return uuid5(JOURNEY_NAMESPACE, f"{kind}:{key}")


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


class Entity(Aggregate):
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
