"""A batch of domain events into the store in one pass: from each event to its row.

The library's ``EventStore.put`` makes a ``StoredEvent`` of each event through the mapper's
generic path, then a ``Notification`` and a ``Recording``: 8-12 µs an event here before any
SQL, about two thirds of the Python of a batch's write. Ours encodes each event's state
straight from its ``__dict__`` (``OrjsonTranscoder.encode_state``: the same bytes), hands
the recorder plain rows, and makes a ``Recording`` only when one is read (the ingest reads
the last). A mapper with a cipher or a compressor, another transcoder or recorder, take the
library's way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, Notification, Recording
from eventsourcing.utils import get_topic

from journey.infra.store.recorder import JourneyRecorderMixin
from journey.infra.store.rows import EventRow
from journey.infra.store.transcoder import OrjsonTranscoder


class JourneyEventStore(EventStore[UUID]):
    """The library's event store with a faster ``put`` (same rows, same bytes)."""

    def put(self, domain_events: Sequence[DomainEventProtocol[UUID]],  # type: ignore[override]
            **kwargs: Any) -> Sequence[Recording[UUID]]:
        """Store the events in one transaction (``kwargs`` go to the recorder, e.g. a
        batch's ``journey`` records); their recordings, in order. The library's returns a
        list; this sequence makes each recording when it is read."""
        mapper, recorder = self.mapper, self.recorder
        if (mapper.cipher is not None or mapper.compressor is not None
                or type(mapper.transcoder) is not OrjsonTranscoder
                or not isinstance(recorder, JourneyRecorderMixin)):
            return super().put(domain_events, **kwargs)
        rows = event_rows(domain_events, mapper.transcoder, recorder.stored_id)
        return Recordings(domain_events, rows, recorder.insert_rows(rows, **kwargs))


#: Per event class: its topic and class version (the mapper asks both for each event).
_CLASSES: dict[type, tuple[str, int]] = {}


def event_rows(events: Sequence[DomainEventProtocol[UUID]], transcoder: OrjsonTranscoder,
               stored_id: Callable[[Any], Any] | None = None) -> list[EventRow]:
    """(originator_id, originator_version, topic, state) of each event, as the library's
    ``Mapper.to_stored_event`` makes them without a cipher or a compressor; ``stored_id``:
    the recorder's form of an originator id (``JourneyRecorderMixin.stored_id``: 32 hex
    digits where the chain hashes them so), else the id as it is."""
    encode = transcoder.encode_state
    rows: list[EventRow] = []
    append = rows.append
    for event in events:
        cls = type(event)
        known = _CLASSES.get(cls)
        if known is None:
            known = _CLASSES[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
        topic, class_version = known
        state = dict(vars(event))
        originator_id = state.pop("originator_id")
        if stored_id is not None:
            originator_id = stored_id(originator_id)
        originator_version = state.pop("originator_version")
        if class_version > 1:
            state["class_version"] = class_version
        append((originator_id, originator_version, topic, encode(state)))
    return rows


class Recordings(Sequence[Recording[UUID]]):
    """The recordings of a put, each made when it is read."""

    def __init__(self, events: Sequence[DomainEventProtocol[UUID]], rows: list[EventRow],
                 ids: Sequence[int]) -> None:
        self._events, self._rows, self._ids = events, rows, ids

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Recording[UUID]: ...

    @overload
    def __getitem__(self, index: slice) -> list[Recording[UUID]]: ...

    def __getitem__(self, index: int | slice) -> Recording[UUID] | list[Recording[UUID]]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        event = self._events[index]  # IndexError as a list's
        _, version, topic, state = self._rows[index]
        return Recording(event, Notification(
            originator_id=event.originator_id, originator_version=version, topic=topic,
            state=state, id=self._ids[index]))

    def __iter__(self) -> Iterator[Recording[UUID]]:
        return (self[i] for i in range(len(self)))
