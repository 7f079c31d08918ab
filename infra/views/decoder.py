"""Stored events decoded for the folds, converting only what the views read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.utils import resolve_topic

from journey.infra.store import (
    JourneyApplication,
    LogEntry,
)


class ViewDecoder:
    """Decodes stored events for the folds, converting only what views read.

    The library's mapper runs every value through the transcoder's hooks (UUIDs,
    Decimals, dates); the folds read plain fields and ``occurred_at``. Anything the
    shortcut cannot honour (upcasting, a cipher, compression) goes through the mapper.
    """

    def __init__(self, app: JourneyApplication) -> None:
        self.mapper = app.mapper
        self.shortcut = app.mapper.cipher is None and app.mapper.compressor is None
        self.classes: dict[str, tuple[Any, int]] = {}  # topic: (class, class_version)

    def __call__(self, entry: LogEntry) -> Any:
        if not self.shortcut:
            return self.mapper.to_domain_event(entry.notification())
        found = self.classes.get(entry.topic)
        if found is None:
            cls = resolve_topic(entry.topic)
            found = self.classes[entry.topic] = (cls, getattr(cls, "class_version", 1))
        cls, version = found
        try:
            state = orjson.loads(entry.state)
        except orjson.JSONDecodeError:  # what only json reads (an integer beyond 64 bits)
            state = json.loads(entry.state)
        if state.pop("class_version", 1) != version:
            return self.mapper.to_domain_event(entry.notification())
        occurred = state.get("occurred_at")
        if occurred is not None:
            state["occurred_at"] = datetime.fromisoformat(occurred["_data_"])
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", state)  # a frozen dataclass, as the mapper fills it
        return event
