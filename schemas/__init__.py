"""The edge of the engine: raw touchpoint lines in, validated models or schema rejects out.

``parse_line`` applies contract sections 1 and 2.1 (``invalid_json``, ``unknown_type``,
``invalid``); ``schemas.touchpoint`` holds one frozen pydantic model per touchpoint type.
"""

from journey.schemas.parsing import (
    MAX_LINE_BYTES,
    SCHEMA_REASONS,
    Invalid,
    OversizeLine,
    Parsed,
    parse_line,
)
from journey.schemas.touchpoint import TOUCHPOINT_TYPES, PartTouchpoint, Touchpoint, kind_of

__all__ = [
    "MAX_LINE_BYTES",
    "SCHEMA_REASONS",
    "TOUCHPOINT_TYPES",
    "Invalid",
    "OversizeLine",
    "Parsed",
    "PartTouchpoint",
    "Touchpoint",
    "kind_of",
    "parse_line",
]
