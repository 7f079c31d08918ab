"""Stored events' JSON: the library's bytes, written by orjson.

eventsourcing's ``JSONTranscoder`` writes an event's state with the standard library's
encoder and calls back into Python for every datetime, Decimal and date (its
``{"_type_": ..., "_data_": ...}`` transcodings). That was a tenth of an ingest. orjson
writes the same compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``) at a
fraction of the cost and calls the same transcodings for the same types, so a stored
event's bytes do not change: the hash chain, exports and every reader see what the
library would have written (``tests/unit/test_transcoder.py`` holds the two side by side).

Whatever orjson would write differently goes to the library's encoder: a UUID, a float or
an enum among the state's values (orjson writes each its own way, never asking the
transcodings), an integer beyond 64 bits, a key that is not a string. Inside a list or a
dict those three would be written orjson's way: no event holds one there (an order's lines
hold strings, integers and Decimals; tests/integration/test_stored_bytes.py re-encodes every
event of a generated workload with the library's encoder). Reading stays the library's:
orjson plus a walk to revive the transcoded values measured slower than json's object hook.

``encode_state`` is the batch writer's path (``events.JourneyEventStore``): it wraps an
event's top-level datetimes, Decimals and dates itself, in one pass, and lets orjson write a
UTC datetime and a date natively: their text is ``isoformat()``'s (``tests/unit/
test_transcoder.py`` holds them side by side). Anything else at the top level goes to
``encode``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
)

# datetime, date and time go to ``default`` (the transcodings), as do dataclasses
# (the library refuses them: so do we).
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_SPELLED_APART = (UUID, float, Enum)
#: Top-level value types orjson writes as the library does, without a transcoding.
_PLAIN = frozenset({str, int, bool, type(None)})
_NESTED = (list, dict)


class DateAsISO(Transcoding):
    """Calendar dates (``due_date``) as ``YYYY-MM-DD``."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class OrjsonTranscoder(JSONTranscoder):
    """``JSONTranscoder`` whose ``encode`` is orjson's, byte for byte the same."""

    _datetimes: Transcoding | None = None  # the library's own transcodings, once registered
    _decimals: Transcoding | None = None
    _dates: Transcoding | None = None
    #: Whether datetimes, Decimals and dates have the transcodings ``encode_state`` writes.
    _wraps = False

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict:
            for value in obj.values():
                if isinstance(value, _SPELLED_APART):
                    return super().encode(obj)
        try:
            return orjson.dumps(obj, default=self._transcode, option=_OPTIONS)
        except TypeError:  # an integer beyond 64 bits, a non-string key ...
            return super().encode(obj)

    def _transcode(self, obj: Any) -> dict[str, Any]:
        # The library's _encode_obj, with the two types of every event first.
        kind = type(obj)
        if kind is datetime and self.types.get(datetime) is self._datetimes:
            return {"_type_": "datetime_iso", "_data_": obj.isoformat()}
        if kind is Decimal and self.types.get(Decimal) is self._decimals:
            return {"_type_": "decimal_str", "_data_": str(obj)}
        return self._encode_obj(obj)

    def encode_state(self, state: dict[str, Any]) -> bytes:
        """``encode(state)``'s bytes, faster. ``state`` is the caller's to give up: its
        datetimes, Decimals and dates are replaced by their transcodings' dicts."""
        if not self._wraps:
            return self.encode(state)
        replaced: list[tuple[str, Any]] = []
        nested = False
        for key, value in state.items():  # values replaced, no key added: safe in the loop
            kind = type(value)
            if kind in _PLAIN:
                continue
            if kind is datetime:
                state[key] = {"_type_": "datetime_iso",
                              "_data_": value if value.tzinfo is UTC else value.isoformat()}
            elif kind is Decimal:
                state[key] = {"_type_": "decimal_str", "_data_": str(value)}
            elif kind is date:
                state[key] = {"_type_": "date_iso", "_data_": value}
            elif kind in _NESTED:
                nested = True
                continue
            else:  # a UUID, a float, an enum, a subclass ...: the general path
                return self.encode(_restored(state, replaced))
            replaced.append((key, value))
        try:
            if not nested:
                return orjson.dumps(state, default=self._transcode)
            # Inside lists and dicts datetimes must reach the transcodings (passed through),
            # so the top level's are written as text here.
            for key, value in replaced:
                if type(value) is not Decimal:
                    state[key]["_data_"] = value.isoformat()
            return orjson.dumps(state, default=self._transcode, option=_OPTIONS)
        except TypeError:  # an integer beyond 64 bits, a non-string key ...
            return self.encode(_restored(state, replaced))

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if type(transcoding) is DatetimeAsISO:
            self._datetimes = transcoding
        elif type(transcoding) is DecimalAsStr:
            self._decimals = transcoding
        elif type(transcoding) is DateAsISO:
            self._dates = transcoding
        mine = (self._datetimes, self._decimals, self._dates)
        self._wraps = None not in mine and mine == tuple(
            self.types.get(kind) for kind in (datetime, Decimal, date))


def _restored(state: dict[str, Any], replaced: list[tuple[str, Any]]) -> dict[str, Any]:
    """``state`` with the values ``encode_state`` replaced given back."""
    for key, value in replaced:
        state[key] = value
    return state
