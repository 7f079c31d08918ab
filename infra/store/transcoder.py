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
"""

from __future__ import annotations

from datetime import datetime
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


class OrjsonTranscoder(JSONTranscoder):
    """``JSONTranscoder`` whose ``encode`` is orjson's, byte for byte the same."""

    _datetimes: Transcoding | None = None  # the library's own transcodings, once registered
    _decimals: Transcoding | None = None

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

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if type(transcoding) is DatetimeAsISO:
            self._datetimes = transcoding
        elif type(transcoding) is DecimalAsStr:
            self._decimals = transcoding
